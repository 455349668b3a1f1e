"""Documents: ``POST /v1/documents`` stores an upload by SHA-256; robots then name it by id.

The bytes go to a shelf (:class:`runtime.ocr.DocumentShelf`): on a cluster the ``documents``
actor on the head node, which OCR workers on every node fetch from through Ray. Only cheap
checks happen here (size, and the type from the first bytes); decoding problems such as a
truncated image, a corrupt or encrypted PDF or a pixel bomb are found by the worker, which
fails the robot with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, Field

from gateway.audit import AUDIT_TARGET
from gateway.errors import ApiError
from gateway.http import json_response
from gateway.spec import json_answer, links, operation, path_id
from gateway.state import DOCUMENTS, SETTINGS
from runtime.keys import Permission
from runtime.messages import DocumentAnswer
from runtime.ocr.documents import DOCUMENT_ID, sniff_media_type
from runtime.ocr.shelf import DocumentShelf

CHUNK_BYTES = 256 * 1024
FILE_FIELDS = ("file", "document")


MediaType = Literal["image/png", "image/jpeg", "image/tiff", "application/pdf"]
"""The media types robofleet stores (:data:`runtime.ocr.documents.MEDIA_TYPES`)."""


class StoredDocument(BaseModel):
    """A stored document: its id (SHA-256 of the bytes, hex), size and sniffed media type."""

    id: str = Field(pattern=DOCUMENT_ID.pattern)
    size: int = Field(ge=1, description="Bytes.")
    type: MediaType = Field(description="The media type sniffed from the first bytes.")


class LocalShelf:
    """A :class:`DocumentShelf` in this process, for a gateway without Ray (tests, one box).

    It is a :class:`gateway.state.Shelf`.
    """

    def __init__(self, shelf: DocumentShelf) -> None:
        self.shelf = shelf

    async def put(self, data: bytes) -> DocumentAnswer:
        """Store a document on this machine's disk; raises ``BadDocument`` if refused."""
        return await asyncio.to_thread(self.shelf.put, data)

    async def info(self, doc_id: str) -> DocumentAnswer | None:
        """A stored document's id, size and type, or None."""
        return await asyncio.to_thread(self.shelf.info, doc_id)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "document_too_large", f"the document is over the limit of {limit} bytes")


async def _read_limited(read_chunk: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await read_chunk(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_document(request: web.Request, limit: int) -> bytes:
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader) and (part.filename or part.name in FILE_FIELDS):
            return await _read_limited(part.read_chunk, limit)
    raise ApiError(
        400, "no_document", "the multipart body has no file part (send it as field 'file')"
    )


async def read_document(request: web.Request, limit: int) -> bytes:
    """The uploaded bytes, from a raw body or a multipart file part; 413 past ``limit``."""
    multipart = request.content_type.startswith("multipart/")
    # Multipart framing is small: a body this much over the limit cannot hold a fitting file.
    slack = CHUNK_BYTES if multipart else 0
    if request.content_length is not None and request.content_length > limit + slack:
        raise _too_large(limit)
    if multipart:
        try:
            return await _multipart_document(request, limit)
        except (ValueError, AssertionError):
            raise ApiError(400, "bad_multipart", "the multipart body is malformed") from None
    return await _read_limited(request.content.read, limit)


async def upload_document(request: web.Request) -> web.Response:
    """``POST /v1/documents``: store a PNG, JPEG, TIFF or PDF; 201 new, 200 already stored."""
    limit = request.app[SETTINGS].max_document_bytes
    data = await read_document(request, limit)
    if not data:
        raise ApiError(400, "empty_document", "the document is empty")
    if sniff_media_type(data) is None:
        raise ApiError(
            415, "unsupported_document", "the document is not a PNG, JPEG, TIFF or PDF file"
        )
    answer = await request.app[DOCUMENTS].put(data)
    request[AUDIT_TARGET] = answer.id
    return json_response(
        _document_body(answer),
        201 if answer.created else 200,
        headers={"Location": f"/v1/documents/{answer.id}"},
    )


async def get_document(request: web.Request) -> web.Response:
    """``GET /v1/documents/{id}``: a stored document's id, size and type."""
    doc_id = request.match_info["document_id"]
    info = await request.app[DOCUMENTS].info(doc_id) if DOCUMENT_ID.fullmatch(doc_id) else None
    if info is None:
        raise ApiError(404, "not_found", "no document with that id")
    return json_response(_document_body(info))


def _document_body(answer: DocumentAnswer) -> dict[str, str | int]:
    return {"id": answer.id, "size": answer.size, "type": answer.media_type}


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.post("/v1/documents", upload_document), Permission.OPERATE),
    (web.get("/v1/documents/{document_id}", get_document), Permission.READ),
]
"""The document routes with the permission a key needs to call each."""

MODELS: list[type[BaseModel]] = [StoredDocument]
"""The models :data:`PATHS` refers to."""

_BINARY = {"type": "string", "format": "binary"}
_UPLOAD = {
    "required": True,
    "description": "A PNG, JPEG, TIFF or PDF: the raw body, or a multipart part 'file'.",
    "content": {
        "application/octet-stream": {"schema": _BINARY},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": _BINARY},
                "required": ["file"],
            }
        },
    },
}
_DOCUMENT_ID = path_id("document_id", DOCUMENT_ID.pattern)

_DOCUMENT_LINKS = links(("getDocument",), "document_id")

PATHS: dict[str, Any] = {
    "/v1/documents": {
        "post": operation(
            "uploadDocument",
            "Store a document by SHA-256; robots name it by id (payload.document_id)",
            {
                "201": {**json_answer(StoredDocument, "stored"), "links": _DOCUMENT_LINKS},
                "200": {**json_answer(StoredDocument, "already stored"), "links": _DOCUMENT_LINKS},
            },
            (400, 413, 415, 422),
            requestBody=_UPLOAD,
        ),
    },
    "/v1/documents/{document_id}": {
        "get": operation(
            "getDocument",
            "A stored document's size and type",
            {"200": json_answer(StoredDocument, "the document")},
            (404,),
            parameters=[_DOCUMENT_ID],
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
