"""Built-in OCR modules: ``ocr.extract`` (text per page) and ``invoice.extract`` (fields).

A robot's payload names its document in one of two ways::

    {"document_id": "<sha256>"}       read from the DocumentStore at options["documents_dir"]
    {"document_b64": "<base64>"}      the bytes themselves, for workers with no shared disk

Both may be given (the id is then checked against the bytes, and a known id skips decoding).
An optional ``"settings"`` object holds :class:`runtime.ocr.results.OcrSettings` fields.
``run`` is synchronous: OCR is CPU-bound and the runtime runs it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import Any

from runtime.errors import BadPayload
from runtime.models import HealthState, Robot
from runtime.ocr.documents import DocumentStore, document_id
from runtime.ocr.invoice import FIELDS, extract_invoice
from runtime.ocr.layout import lines_text
from runtime.ocr.pipeline import OcrEngine, parse_settings
from runtime.ocr.results import OcrLimits, OcrResult
from runtime.sdk import Module, RobotContext

_SHARED_LOCK = threading.Lock()
_SHARED: OcrEngine | None = None


def shared_engine() -> OcrEngine:
    """Return this process's OCR engine, so every OCR module in it shares one dedup cache."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = OcrEngine()
        return _SHARED


def _limits(options: dict[str, Any]) -> OcrLimits | None:
    keys = ("max_bytes", "max_pages", "max_pixels")
    chosen = {key: int(options[key]) for key in keys if key in options}
    return OcrLimits(**chosen) if chosen else None


class _DocumentModule(Module):
    """Shared plumbing: find the document's bytes, run the OCR engine."""

    def __init__(self, options: dict[str, Any] | None = None, engine: OcrEngine | None = None):
        super().__init__(options)
        limits = _limits(self.options)
        self.engine = engine or (OcrEngine(limits) if limits else shared_engine())
        documents_dir = self.options.get("documents_dir")
        self.documents = DocumentStore(documents_dir, self.engine.limits) if documents_dir else None

    def check_health(self) -> bool | HealthState:
        """Healthy when Tesseract runs here; without it only PDF text layers could be read."""
        return bool(self.engine.readers["tesseract"].available())

    def _ocr(self, payload: dict[str, Any], settings: Any) -> OcrResult:
        if not isinstance(payload, dict):
            raise BadPayload("payload must be an object")
        doc_id = payload.get("document_id")
        encoded = payload.get("document_b64")
        if doc_id is not None and not isinstance(doc_id, str):
            raise BadPayload("payload.document_id must be a string")
        if doc_id is None and encoded is None:
            raise BadPayload("payload needs document_id or document_b64")
        if doc_id is not None:
            cached = self.engine.lookup(doc_id, settings)
            if cached is not None:
                return cached
        if encoded is not None:
            data = self._decode(encoded)
            if doc_id is not None and document_id(data) != doc_id:
                raise BadPayload("payload.document_b64 does not match payload.document_id")
        else:
            if self.documents is None:
                raise BadPayload(
                    "this module has no document store (options.documents_dir); "
                    "send document_b64 instead"
                )
            data = self.documents.get(doc_id)  # type: ignore[arg-type]
        return self.engine.process(data, settings)

    def _decode(self, encoded: Any) -> bytes:
        if not isinstance(encoded, str | bytes):
            raise BadPayload("payload.document_b64 must be a base64 string")
        # Refuse an oversized document before spending memory on decoding it.
        if len(encoded) * 3 // 4 > self.engine.limits.max_bytes + 3:
            raise BadPayload(f"document is over the limit of {self.engine.limits.max_bytes} bytes")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadPayload("payload.document_b64 is not valid base64") from None


class OcrExtract(_DocumentModule):
    """``ocr.extract``: a document in, text per page with confidence and word boxes out."""

    types = ("ocr.extract",)

    def run(self, robot: Robot, ctx: RobotContext) -> dict[str, Any]:
        """OCR the robot's document and return the result as a JSON-ready dict."""
        settings = parse_settings(robot.payload.get("settings"))
        return self._ocr(robot.payload, settings).model_dump()


class InvoiceExtract(_DocumentModule):
    """``invoice.extract``: OCR, then invoice number, date, vendor, total and currency."""

    types = ("invoice.extract",)

    def run(self, robot: Robot, ctx: RobotContext) -> dict[str, Any]:
        """OCR the robot's document and return its invoice fields, each with a confidence."""
        settings = parse_settings(robot.payload.get("settings"))
        result = self._ocr(robot.payload, settings)
        lines: list[str] = []
        for page in result.pages:
            # Lines rebuilt from word boxes keep a label and its value together even when
            # the engine read them as two columns.
            lines.extend(lines_text(page.words) if page.words else page.text.splitlines())
        fields = extract_invoice(lines, result.confidence)
        return {
            "document_id": result.document_id,
            "fields": {name: getattr(fields, name).model_dump() for name in FIELDS},
            "values": fields.values(),
            "ocr": {
                "engine": result.engine,
                "engines_tried": result.engines_tried,
                "confidence": result.confidence,
                "pages": len(result.pages),
                "cached": result.cached,
            },
        }
