"""Built-in OCR modules: ``ocr.extract`` (text per page) and ``invoice.extract`` (fields).

A robot's payload names its document in one of two ways::

    {"document_id": "<sha256>"}       from the module's DocumentSource (the ``documents``
                                      actor on a cluster, or options["documents_dir"])
    {"document_b64": "<base64>"}      the bytes themselves

Both may be given (the id is then checked against the bytes, and a known id skips decoding).
An optional ``"settings"`` object holds :class:`runtime.ocr.results.OcrSettings` fields.
Every result carries ``elapsed_s``, the seconds this robot spent in the worker, and
``dedup``: None when an engine ran, "worker" for a hit in the worker's own cache, "shared"
for a result another worker made (one call to the ``documents`` actor).
``run`` is synchronous: OCR is CPU-bound and the runtime runs it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict
from typing import Any

from runtime.errors import BadPayload
from runtime.models import HealthState, Robot
from runtime.ocr.documents import DocumentNotFound, DocumentStore, document_id
from runtime.ocr.invoice import FIELDS, FieldValue, extract_pages
from runtime.ocr.pipeline import OcrEngine, parse_settings
from runtime.ocr.results import OcrLimits, OcrResult, OcrSettings
from runtime.ocr.shelf import DocumentSource, LocalDocuments
from runtime.ocr.templates import Template, load_templates
from runtime.ocr.templates import match as match_template
from runtime.sdk import MetricSample, Module, RobotContext

_SHARED_LOCK = threading.Lock()
_SHARED: OcrEngine | None = None


def shared_engine() -> OcrEngine:
    """Return this process's OCR engine, so every OCR module in it shares one dedup cache."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = OcrEngine()
        return _SHARED


class _Answers:
    """A small thread-safe LRU of ``invoice.extract`` answers by (document id, settings)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            answer = self._entries.get(key)
            if answer is not None:
                self._entries.move_to_end(key)
            return answer

    def put(self, key: tuple[str, str], answer: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = answer
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def _limits(options: dict[str, Any]) -> OcrLimits | None:
    """The OCR limits the module's options set, or None. Raises ValueError naming the option
    when one is not a positive whole number (a TOML ``max_pages = "x"``)."""
    chosen = {}
    for key in ("max_bytes", "max_pages", "max_pixels"):
        if key in options:
            value = options[key]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)  # "2000000" from a JSON registration reads as the number
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"options.{key} must be a positive whole number, got {value!r}")
            chosen[key] = value
    return OcrLimits(**chosen) if chosen else None


def _path_option(options: dict[str, Any], key: str) -> str | None:
    """``options[key]`` as a folder path, or None when unset. Raises ValueError naming the
    option when it is not a string (a TOML ``templates_dir = 5``)."""
    value = options.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"options.{key} must be a folder path string, got {value!r}")
    return value or None


class _DocumentModule(Module):
    """Shared plumbing: find the document's bytes, run the OCR engine."""

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        engine: OcrEngine | None = None,
        documents: DocumentSource | None = None,
    ):
        super().__init__(options)
        limits = _limits(self.options)
        self.engine = engine or (OcrEngine(limits) if limits else shared_engine())
        documents_dir = _path_option(self.options, "documents_dir")
        if documents is None and documents_dir:
            documents = LocalDocuments(DocumentStore(documents_dir, self.engine.limits))
        self.documents = documents
        self._answers: _Answers = _Answers()
        templates_dir = _path_option(self.options, "templates_dir")
        self.templates: list[Template] = load_templates(templates_dir) if templates_dir else []

    def check_health(self) -> bool | HealthState:
        """Healthy when Tesseract runs here; without it only PDF text layers could be read."""
        return bool(self.engine.readers["tesseract"].available())

    def metrics(self) -> list[MetricSample]:
        """The engine's counters: calls, successes, latency, wins, dedup hits."""
        return self.engine.stats.samples()

    def _ocr(self, payload: dict[str, Any], settings: OcrSettings) -> tuple[OcrResult, str | None]:
        """The document's OCR result, and where a dedup hit came from ("worker", "shared")."""
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
                return cached, "worker"
        if encoded is not None:
            data = self._decode(encoded)
            if doc_id is not None and document_id(data) != doc_id:
                raise BadPayload("payload.document_b64 does not match payload.document_id")
        else:
            assert doc_id is not None
            data_or_result = self._fetch(doc_id, settings)
            if isinstance(data_or_result, OcrResult):
                return data_or_result, "shared"
            data = data_or_result
        result = self.engine.process(data, settings, looked_up=doc_id is not None)
        if self.documents is not None and not result.cached:
            self.documents.remember(result)
        return result, "worker" if result.cached else None

    def _fetch(self, doc_id: str, settings: OcrSettings) -> bytes | OcrResult:
        if self.documents is None:
            raise BadPayload(
                "this module has no document store (options.documents_dir); "
                "send document_b64 instead"
            )
        fetched = self.documents.fetch(doc_id, settings.fingerprint())
        if fetched.result is not None:
            return self.engine.adopt(fetched.result)
        if fetched.data is None:
            raise DocumentNotFound(f"no document with id {doc_id}")
        return fetched.data

    def _decode(self, encoded: object) -> bytes:
        if not isinstance(encoded, str | bytes):
            raise BadPayload("payload.document_b64 must be a base64 string")
        # Refuse an oversized document before spending memory on decoding it.
        if len(encoded) * 3 // 4 > self.engine.limits.max_bytes + 3:
            raise BadPayload(f"document is over the limit of {self.engine.limits.max_bytes} bytes")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadPayload("payload.document_b64 is not valid base64") from None

    def text_result(self, robot: Robot) -> dict[str, Any]:
        """``ocr.extract``: the OCR result of the robot's document as a JSON-ready dict."""
        started = time.perf_counter()
        settings = parse_settings(robot.payload.get("settings"))
        result, dedup = self._ocr(robot.payload, settings)
        answer = result.model_dump()
        answer["dedup"] = dedup
        answer["elapsed_s"] = round(time.perf_counter() - started, 6)
        return answer

    def invoice_result(self, robot: Robot) -> dict[str, Any]:
        """``invoice.extract``: the invoice fields of the robot's document, with confidences."""
        started = time.perf_counter()
        settings = parse_settings(robot.payload.get("settings"))
        result, dedup = self._ocr(robot.payload, settings)
        key = (result.document_id, result.settings_hash)
        # Fields are a pure function of the OCR result: a dedup hit skips extracting them too.
        answer = self._answers.get(key)
        if answer is None:
            answer = invoice_answer(result, self.templates)
            self._answers.put(key, answer)
        return {
            **answer,
            "ocr": {**answer["ocr"], "cached": result.cached, "dedup": dedup},
            "elapsed_s": round(time.perf_counter() - started, 6),
        }


class OcrExtract(_DocumentModule):
    """``ocr.extract``: a document in, text per page with confidence and word boxes out."""

    types = ("ocr.extract",)

    def run(self, robot: Robot, ctx: RobotContext) -> dict[str, Any]:
        """OCR the robot's document and return the result as a JSON-ready dict."""
        return self.text_result(robot)


class InvoiceExtract(_DocumentModule):
    """``invoice.extract``: OCR, then invoice number, date, vendor, total and currency."""

    types = ("invoice.extract",)

    def run(self, robot: Robot, ctx: RobotContext) -> dict[str, Any]:
        """OCR the robot's document and return its invoice fields, each with a confidence."""
        return self.invoice_result(robot)


class OcrModule(_DocumentModule):
    """Both OCR robot types in one module: what each ``ocr:<n>`` worker runs."""

    types = ("ocr.extract", "invoice.extract")

    def setup(self) -> None:
        """Refuse to start where Tesseract is missing, saying how to install it."""
        if not self.engine.readers["tesseract"].available():
            raise RuntimeError(
                "Tesseract is not installed on this node (apt-get install tesseract-ocr "
                "tesseract-ocr-eng); the OCR workers need it"
            )

    def run(self, robot: Robot, ctx: RobotContext) -> dict[str, Any]:
        """Run ``invoice.extract`` or ``ocr.extract`` on the robot's document."""
        if robot.type == "invoice.extract":
            return self.invoice_result(robot)
        return self.text_result(robot)


def invoice_answer(result: OcrResult, templates: list[Template] | None = None) -> dict[str, Any]:
    """Turn an OCR result into the ``invoice.extract`` answer: fields, values, OCR summary.

    A vendor template (``templates``, invoice2data's YAML format) that applies to the
    document replaces the fields it reads, with confidence 0.99 and ``source`` naming it.
    """
    # Lines rebuilt from word boxes keep a label and its value together even when the engine
    # read them as two columns, and say where a value sits relative to its label.
    fields = extract_pages(result.pages, result.confidence, result.language)
    pinned = match_template(templates or [], result.text)
    if pinned is not None:
        template, found = pinned
        for name, value in found.items():
            setattr(
                fields,
                name,
                FieldValue(
                    value=value, confidence=0.99, unsure=False, source=f"template {template.name}"
                ),
            )
    return {
        "document_id": result.document_id,
        "kind": fields.kind,
        "language": fields.language,
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
