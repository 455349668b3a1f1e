"""OCR core, importable without Ray: documents, checks, preprocessing, engines, invoice fields.

The OCR worker actor wraps one :class:`OcrEngine` per process::

    engine = OcrEngine()                    # Tesseract first, RapidOCR as the last fallback
    result = engine.process(data, {"dpi": 200})   # OcrResult; BadPayload for a bad document
    engine.lookup(doc_id, settings)         # cached OcrResult or None, runs no engine
    engine.stats.snapshot()                 # engine calls, successes, latency, dedup hits
"""

from runtime.ocr.documents import (
    DocumentInfo,
    DocumentNotFound,
    DocumentStore,
    check_document,
    document_id,
    sniff_media_type,
)
from runtime.ocr.engines import EngineFailed, RapidOcrEngine, Recognition, TesseractEngine
from runtime.ocr.invoice import FieldValue, InvoiceFields, extract_invoice
from runtime.ocr.modules import InvoiceExtract, OcrExtract, shared_engine
from runtime.ocr.pipeline import OcrEngine, parse_settings
from runtime.ocr.results import (
    EngineAttempt,
    OcrLimits,
    OcrResult,
    OcrSettings,
    PageText,
    WordBox,
)
from runtime.ocr.stats import EngineCounters, OcrStats
from runtime.ocr.validation import open_document, validate_document

__all__ = [
    "DocumentInfo",
    "DocumentNotFound",
    "DocumentStore",
    "EngineAttempt",
    "EngineCounters",
    "EngineFailed",
    "FieldValue",
    "InvoiceExtract",
    "InvoiceFields",
    "OcrEngine",
    "OcrExtract",
    "OcrLimits",
    "OcrResult",
    "OcrSettings",
    "OcrStats",
    "PageText",
    "RapidOcrEngine",
    "Recognition",
    "TesseractEngine",
    "WordBox",
    "check_document",
    "document_id",
    "extract_invoice",
    "open_document",
    "parse_settings",
    "shared_engine",
    "sniff_media_type",
    "validate_document",
]
