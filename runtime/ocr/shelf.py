"""Where OCR workers get documents from, and where they share OCR results.

The gateway stores uploads on the head node's disk through a :class:`DocumentShelf` (the
``documents`` actor holds one), so a worker on any node asks the shelf for a document's
bytes by id through Ray rather than reading a shared filesystem. The shelf also keeps the
OCR results workers hand back, keyed by (document id, settings hash): a document already
read by one worker is a dedup hit on every other worker too, one actor call away.

A worker talks to a shelf through the :class:`DocumentSource` protocol; the Ray client lives
in ``actors/``, and :class:`LocalDocuments` serves a directory on the worker's own disk.
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple, Protocol

from runtime.errors import BadDocument, BadPayload
from runtime.messages import DocumentAnswer
from runtime.ocr.dedup import ResultCache
from runtime.ocr.documents import DocumentNotFound, DocumentStore, document_id
from runtime.ocr.results import OcrLimits, OcrResult


class FetchedDocument(NamedTuple):
    """A shelf's answer: a stored OCR result for the settings, else the document's bytes."""

    data: bytes | None = None
    result: OcrResult | None = None


class DocumentSource(Protocol):
    """Where a worker fetches documents by id and hands back the results it made."""

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        """Return a stored result or the bytes; raise DocumentNotFound for an unknown id."""
        ...

    def remember(self, result: OcrResult) -> None:
        """Offer a fresh result to other workers (best effort, never raises)."""
        ...


class DocumentShelf:
    """Documents stored by SHA-256 under ``root``, and the OCR results workers share."""

    def __init__(
        self, root: str | os.PathLike[str], max_bytes: int | None = None, max_results: int = 4096
    ) -> None:
        limits = OcrLimits(max_bytes=max_bytes) if max_bytes else OcrLimits()
        self.store = DocumentStore(root, limits)
        self.results = ResultCache(max_results)
        self._lock = threading.Lock()
        self.counts = {"stored": 0, "fetched": 0, "result_hits": 0, "remembered": 0}

    def __repr__(self) -> str:
        """Live state for the Ray dashboard's Repr column and logs: what it has served."""
        counts = " ".join(f"{name}={n}" for name, n in self.counts.items())
        return f"documents({counts})"

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def put(self, data: bytes) -> DocumentAnswer:
        """Store a document once per content; ``created`` says whether it was new.

        Raises :class:`~runtime.errors.BadDocument` with the reason when the bytes are empty,
        over the size limit or not a readable PNG, JPEG, TIFF or PDF.
        """
        try:
            known = document_id(data) in self.store
            info = self.store.put(data)
        except BadPayload as exc:
            raise BadDocument(str(exc)) from None
        if not known:
            self._count("stored")
        return DocumentAnswer(info.id, info.size, info.media_type, created=not known)

    def info(self, doc_id: str) -> DocumentAnswer | None:
        """Return a stored document's id, size and type, or None if there is no such document."""
        try:
            info = self.store.info(doc_id)
        except DocumentNotFound:
            return None
        return DocumentAnswer(info.id, info.size, info.media_type)

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        """Return the shared result for these settings, else the bytes; empty if unknown."""
        result = self.results.get((doc_id, settings_hash))
        if result is not None:
            self._count("result_hits")
            return FetchedDocument(result=result)
        try:
            data = self.store.get(doc_id)
        except DocumentNotFound:
            return FetchedDocument()
        self._count("fetched")
        return FetchedDocument(data=data)

    def remember(self, result: OcrResult) -> None:
        """Keep a result a worker made, for every worker's dedup."""
        self.results.put((result.document_id, result.settings_hash), result)
        self._count("remembered")

    def stats(self) -> dict[str, int]:
        """Return how many documents were stored and fetched and results shared."""
        with self._lock:
            return {**self.counts, "results": len(self.results)}


class LocalDocuments:
    """A :class:`DocumentSource` over a document directory on this machine; shares no results."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        """Return the document's bytes; raise DocumentNotFound if there is none."""
        return FetchedDocument(data=self.store.get(doc_id))

    def remember(self, result: OcrResult) -> None:
        """Do nothing: this worker's own cache already holds the result."""
