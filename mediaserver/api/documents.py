"""/agents/{name}/documents: an agent's knowledge base (upload, list, delete).

An upload (multipart field `file`: PDF, DOCX, TXT, Markdown or HTML) is
parsed before it is answered: bad input gets a 4xx with the reason and
nothing is stored. It is then listed as "processing" until its chunks are
embedded ("ready"), or "failed" with the reason. Uploading a file of the
same name again replaces the older one once the new one is ready."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from mediaserver.agents import AgentBook
from mediaserver.api.agents import AgentName
from mediaserver.api.auth import Auth
from mediaserver.knowledge.ingest import Busy, Ingest
from mediaserver.knowledge.parse import DocumentError, content_type

DocumentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file
# read by the endpoint itself (its size checked first), so described here for the schema
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}


class DocumentOut(BaseModel):
    id: str
    name: str
    content_type: str
    size: int
    status: str  # processing | ready | failed
    reason: str  # why it failed ("" otherwise)
    chunk_count: int
    created_at: datetime
    updated_at: datetime


def router(ingest: Ingest, book: AgentBook, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/agents/{name}/documents", tags=["knowledge"])
    documents = ingest.documents
    cap = ingest.max_bytes

    async def agent_exists(name: str) -> None:
        found = await asyncio.to_thread(book.get, name)
        if found is None:
            raise HTTPException(404, f"no agent {name!r}")

    @api.post(
        "",
        response_model=DocumentOut,
        status_code=202,
        dependencies=[Depends(auth.admin)],
        # a declared length over cap + FORM_OVERHEAD gets our 413 below, before the
        # body is read; this bounds a body that says no length (or lies about it)
        max_body_size=2 * cap + FORM_OVERHEAD,
        openapi_extra={"requestBody": UPLOAD_BODY},
    )
    async def upload(name: AgentName, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap + FORM_OVERHEAD:
            raise HTTPException(413, f"the file is over the {cap // 2**20} MB limit")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(415, "send the document as multipart/form-data, field 'file'")
        await agent_exists(name)
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise HTTPException(422, "no file: send it in the multipart field 'file'")
            filename = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:256]
            try:
                content_type(filename)
            except DocumentError as exc:
                raise HTTPException(415, str(exc)) from None
            if upload.size is not None and upload.size > cap:
                raise HTTPException(413, f"the file is over the {cap // 2**20} MB limit")
            data = await upload.read(cap + 1)
        if len(data) > cap:
            raise HTTPException(413, f"the file is over the {cap // 2**20} MB limit")
        try:
            return await ingest.upload(name, filename, data)
        except DocumentError as exc:
            raise HTTPException(422, f"{filename}: {exc}") from None
        except Busy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None

    @api.get("", response_model=list[DocumentOut], dependencies=[Depends(auth.viewer)])
    async def list_documents(name: AgentName) -> list[dict[str, Any]]:
        await agent_exists(name)
        return await asyncio.to_thread(documents.of_agent, name)

    @api.get("/{document_id}", response_model=DocumentOut, dependencies=[Depends(auth.viewer)])
    async def get_document(name: AgentName, document_id: DocumentId) -> dict[str, Any]:
        found = await asyncio.to_thread(documents.get, name, document_id)
        if found is None:
            raise HTTPException(404, f"no document {document_id} of agent {name!r}")
        return found

    @api.delete("/{document_id}", status_code=204, dependencies=[Depends(auth.admin)])
    async def delete_document(name: AgentName, document_id: DocumentId) -> Response:
        if not await ingest.delete(name, document_id):
            raise HTTPException(404, f"no document {document_id} of agent {name!r}")
        return Response(status_code=204)

    return api
