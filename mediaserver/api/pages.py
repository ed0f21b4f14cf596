"""The pages (static files: no bundler). They hold no data: everything they
show comes from the API with the key the operator types in."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/calls.html")

    @api.get("/favicon.ico")
    def favicon() -> FileResponse:  # browsers ask for it on every page
        return FileResponse(WEB / "favicon.svg", media_type="image/svg+xml")

    return api


def static() -> StaticFiles:
    return StaticFiles(directory=WEB)
