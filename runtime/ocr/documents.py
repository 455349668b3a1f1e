"""Content-addressed document store on disk, and document type sniffing from magic bytes."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.errors import BadPayload
from runtime.ocr.results import OcrLimits

MEDIA_TYPES = ("image/png", "image/jpeg", "image/tiff", "application/pdf")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
)
DOCUMENT_ID = re.compile(r"^[0-9a-f]{64}$")
"""A document's id: the SHA-256 of its bytes, in lowercase hex."""


class DocumentNotFound(BadPayload):
    """Raised when no stored document has the given id."""

    code = "document_not_found"


def sniff_media_type(data: bytes) -> str | None:
    """Return the media type the bytes start like (PNG, JPEG, TIFF, PDF), or None."""
    head = data[:1024]
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    # PDF readers accept a few junk bytes before the header; so do we, within 1 KiB.
    if b"%PDF-" in head:
        return "application/pdf"
    return None


def document_id(data: bytes) -> str:
    """Return a document's id: the SHA-256 of its bytes in hex."""
    return hashlib.sha256(data).hexdigest()


def check_document(data: bytes, limits: OcrLimits) -> str:
    """Check size and type from the bytes alone and return the media type, or raise BadPayload."""
    if not data:
        raise BadPayload("document is empty")
    if len(data) > limits.max_bytes:
        raise BadPayload(
            f"document is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    media_type = sniff_media_type(data)
    if media_type is None:
        raise BadPayload("document is not a PNG, JPEG, TIFF or PDF file")
    return media_type


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document's id (SHA-256 hex), size in bytes and sniffed media type."""

    id: str
    size: int
    media_type: str

    def to_dict(self) -> dict[str, object]:
        """Return the info as a JSON-ready dict."""
        return asdict(self)


def write_once(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` unless a file is there: into a temporary file beside it,
    then renamed, so a reader never sees half a file under its final name. Content-addressed
    stores call it, so a file already there holds the same bytes."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DocumentStore:
    """Documents on disk under ``root``, each stored once under the SHA-256 of its bytes."""

    def __init__(self, root: str | os.PathLike[str], limits: OcrLimits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or OcrLimits()

    def _path(self, doc_id: str) -> Path:
        if not isinstance(doc_id, str) or not DOCUMENT_ID.fullmatch(doc_id):
            raise DocumentNotFound("document id must be 64 lowercase hex digits (a SHA-256)")
        return self.root / doc_id[:2] / doc_id

    def put(self, data: bytes) -> DocumentInfo:
        """Store a document (once per content) and return its info; raise BadPayload if bad."""
        media_type = check_document(data, self.limits)
        info = DocumentInfo(id=document_id(data), size=len(data), media_type=media_type)
        write_once(self._path(info.id), data)
        return info

    def get(self, doc_id: str) -> bytes:
        """Return a stored document's bytes; raise DocumentNotFound if there is none."""
        path = self._path(doc_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(f"no document with id {doc_id}") from None

    def info(self, doc_id: str) -> DocumentInfo:
        """Return a stored document's info; raise DocumentNotFound if there is none."""
        path = self._path(doc_id)
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                head = handle.read(1024)
        except FileNotFoundError:
            raise DocumentNotFound(f"no document with id {doc_id}") from None
        return DocumentInfo(id=doc_id, size=size, media_type=sniff_media_type(head) or "")

    def __contains__(self, doc_id: object) -> bool:
        return (
            isinstance(doc_id, str)
            and bool(DOCUMENT_ID.fullmatch(doc_id))
            and (self.root / doc_id[:2] / doc_id).exists()
        )
