"""OCR core, importable without Ray: documents, checks, preprocessing, engines, invoice fields.

The OCR worker actor wraps one :class:`OcrEngine` per process::

    engine = OcrEngine()                    # Tesseract first, RapidOCR as the last fallback
    result = engine.process(data, {"dpi": 200})   # OcrResult; BadPayload for a bad document
    engine.lookup(doc_id, settings)         # cached OcrResult or None, runs no engine
    engine.stats.snapshot()                 # engine calls, successes, latency, dedup hits

On a cluster each ``ocr:<n>`` worker runs :class:`OcrModule` (both robot types) and fetches
documents by id from the head node's :class:`DocumentShelf` (see ``runtime.ocr.shelf``).
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
from runtime.ocr.modules import (
    InvoiceExtract,
    OcrExtract,
    OcrModule,
    invoice_answer,
    shared_engine,
)
from runtime.ocr.pipeline import OcrEngine, parse_settings
from runtime.ocr.results import (
    EngineAttempt,
    OcrLimits,
    OcrResult,
    OcrSettings,
    PageText,
    WordBox,
)
from runtime.ocr.shelf import DocumentShelf, DocumentSource, FetchedDocument, LocalDocuments
from runtime.ocr.stats import EngineCounters, OcrStats
from runtime.ocr.validation import open_document, validate_document

__all__ = [
    "DocumentInfo",
    "DocumentNotFound",
    "DocumentShelf",
    "DocumentSource",
    "DocumentStore",
    "EngineAttempt",
    "EngineCounters",
    "EngineFailed",
    "FetchedDocument",
    "FieldValue",
    "InvoiceExtract",
    "InvoiceFields",
    "LocalDocuments",
    "OcrEngine",
    "OcrExtract",
    "OcrLimits",
    "OcrModule",
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
    "invoice_answer",
    "open_document",
    "parse_settings",
    "shared_engine",
    "sniff_media_type",
    "validate_document",
]
