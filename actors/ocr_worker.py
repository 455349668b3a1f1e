"""The OCR worker module: what each ``ocr:<n>`` replica runs on a cluster.

It is :class:`runtime.ocr.OcrModule` (``ocr.extract`` and ``invoice.extract``) with one
difference: a robot's ``document_id`` is fetched from the ``documents`` actor on the head
node through Ray, so a worker on any node reads uploads without a shared filesystem, and the
results workers make are shared there for dedup. Being an ordinary module, the pool gets
capacity-aware routing, health checks, supervision and retries like any other.
"""

from __future__ import annotations

from typing import Any

from actors.ray.documents import RayDocuments
from runtime.config import ocr_pool
from runtime.ocr.modules import OcrModule
from runtime.ocr.pipeline import OcrEngine
from runtime.ocr.shelf import DocumentSource


class OcrWorker(OcrModule):
    """An OCR pool worker: both OCR robot types, documents from the ``documents`` actor.

    ``options["documents_dir"]`` (a directory on the worker's own disk) replaces the actor,
    for single-machine setups that want no actor call per document.
    """

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        engine: OcrEngine | None = None,
        documents: DocumentSource | None = None,
    ) -> None:
        super().__init__(options, engine, documents)
        if self.documents is None:
            self.documents = RayDocuments()

    def setup(self) -> None:
        """Check Tesseract, and look the ``documents`` actor up before the first robot."""
        super().setup()
        if isinstance(self.documents, RayDocuments):
            try:
                self.documents.handle()
            except Exception:  # not deployed yet: the first fetch looks again
                pass


OCR_POOL = ocr_pool(f"{__name__}:{OcrWorker.__name__}")
"""The OCR pool a cluster deploys by default: this worker on ``ocr:<n>``, one per CPU."""
