"""Raw messages kept as documents: content-addressed by SHA-256 under the mail directory.

Same layout as :class:`~runtime.ocr.documents.DocumentStore` (``<root>/<2 hex>/<sha256>``),
without its check that the bytes are an image or PDF: a raw mail is ``message/rfc822``.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.ocr.documents import document_id, write_once

__all__ = ["RawMail"]


class RawMail:
    """Raw messages under ``root``, each stored once; ids are SHA-256 hex digests."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, doc_id: str) -> Path:
        if len(doc_id) != 64 or any(ch not in "0123456789abcdef" for ch in doc_id):
            raise KeyError(doc_id)
        return self.root / doc_id[:2] / doc_id

    def put(self, data: bytes) -> str:
        """Keep a raw message (once per content); return its id."""
        doc_id = document_id(data)
        write_once(self._path(doc_id), data)
        return doc_id

    def get(self, doc_id: str) -> bytes:
        """A kept raw message; raises KeyError if there is none."""
        try:
            return self._path(doc_id).read_bytes()
        except FileNotFoundError:
            raise KeyError(doc_id) from None
