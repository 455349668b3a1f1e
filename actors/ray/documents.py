"""The ``documents`` actor on Ray: uploads on the head node's disk, fetched by OCR workers.

The wrapped class is the plain :class:`~runtime.ocr.shelf.DocumentShelf`; workers on every
node reach it through Ray, not a shared filesystem.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from ray.exceptions import GetTimeoutError

from actors.ray.common import LOST_ERRORS, Handle, head_actor_options, robofleet_errors
from runtime.errors import RetryableError
from runtime.messages import DocumentAnswer
from runtime.ocr.results import OcrResult
from runtime.ocr.shelf import DocumentShelf, FetchedDocument

__all__ = ["DOCUMENTS_NAME", "RayDocuments", "RemoteDocuments", "documents_options"]

log = logging.getLogger(__name__)

DOCUMENTS_NAME = "documents"
DOCUMENTS_TIMEOUT_S = 60.0

RemoteDocuments = ray.remote(DocumentShelf)


def documents_options(namespace: str) -> dict[str, Any]:
    """Ray options of the ``documents`` actor: named, detached, on the head node (its disk)."""
    return head_actor_options(DOCUMENTS_NAME, namespace, max_concurrency=16, max_task_retries=-1)


class RayDocuments:
    """The ``documents`` actor seen from a gateway (async) or an OCR worker (blocking).

    Workers call ``fetch`` and ``remember`` from the thread their robot runs in; the gateway
    awaits ``put`` and ``info`` on its event loop. Without a namespace it uses the calling
    actor's own.
    """

    def __init__(
        self, namespace: str | None = None, timeout_s: float = DOCUMENTS_TIMEOUT_S
    ) -> None:
        self._namespace = namespace
        self._timeout_s = timeout_s
        self._handle: Handle = None

    def handle(self) -> Handle:
        """The ``documents`` actor's handle, looked up once.

        Raises :class:`~runtime.errors.RetryableError` when the actor is not running.
        """
        if self._handle is None:
            namespace = self._namespace or ray.get_runtime_context().namespace
            try:
                self._handle = ray.get_actor(DOCUMENTS_NAME, namespace=namespace)
            except ValueError:
                raise RetryableError("the documents actor is not running") from None
        return self._handle

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        """A shared OCR result for the settings, else the document's bytes (empty if unknown).

        Raises :class:`~runtime.errors.RetryableError` when the actor does not answer within
        the timeout (60 s by default).
        """
        try:
            fetched: FetchedDocument = ray.get(
                self.handle().fetch.remote(doc_id, settings_hash), timeout=self._timeout_s
            )
        except (*LOST_ERRORS, GetTimeoutError) as exc:
            self._handle = None
            raise RetryableError(f"the documents actor did not answer: {exc}") from None
        return fetched

    def remember(self, result: OcrResult) -> None:
        """Offer a fresh result to every worker; best effort, no waiting."""
        try:
            self.handle().remember.remote(result)
        except Exception:
            log.warning("could not share an OCR result with the documents actor", exc_info=True)

    async def put(self, data: bytes) -> DocumentAnswer:
        """Store a document; raises ``BadDocument`` with the reason when it is refused."""
        with robofleet_errors():
            answer: DocumentAnswer = await asyncio.wait_for(
                self.handle().put.remote(data), self._timeout_s
            )
        return answer

    async def info(self, doc_id: str) -> DocumentAnswer | None:
        """A stored document's id, size and type, or None."""
        with robofleet_errors():
            answer: DocumentAnswer | None = await asyncio.wait_for(
                self.handle().info.remote(doc_id), self._timeout_s
            )
        return answer
