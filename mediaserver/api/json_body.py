"""JSON bodies hold text: a lone surrogate ("\\ud800" with no partner) is valid
JSON but no Unicode text, and no store can keep it. Such a body is refused
as invalid JSON (422) before any endpoint sees it."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def lone_surrogate(value: object, where: str = "body") -> str | None:
    """Where in `value` a string holds a lone surrogate; None if nowhere."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if (found := lone_surrogate(key, where)) or (
                found := lone_surrogate(item, f"{where}.{key}")
            ):
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if found := lone_surrogate(item, f"{where}[{index}]"):
                return found
    return None


class TextJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = json.loads(body)
            if (where := lone_surrogate(parsed)) is not None:
                text = body.decode("utf-8", "replace")
                raise json.JSONDecodeError(f"{where}: a lone surrogate is not text", text, 0)
            self._json = parsed
        return self._json


class TextJsonRoute(APIRoute):
    """An APIRoute whose JSON body must be text throughout."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await handle(TextJsonRequest(request.scope, request.receive))

        return handler
