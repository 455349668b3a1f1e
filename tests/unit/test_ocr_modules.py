"""The ocr.extract and invoice.extract modules, with stand-in engines."""

from __future__ import annotations

import base64
import random
import re

import pytest

import cluster.invoice_samples as samples
from runtime.errors import BadPayload
from runtime.models import HealthState, Robot
from runtime.ocr import DocumentStore, InvoiceExtract, OcrEngine, OcrExtract
from runtime.sdk import RobotContext, call_health
from tests.unit.test_ocr_pipeline import StubReader, _png


def _engine() -> OcrEngine:
    return OcrEngine(
        tesseract=StubReader("tesseract", (95.0,)), rapidocr=StubReader("rapidocr", (90.0,))
    )


def _run(module, payload):
    robot = Robot(id="r1", type=module.types[0], payload=payload)
    return module.run(robot, RobotContext(robot))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_types():
    assert OcrExtract.types == ("ocr.extract",)
    assert InvoiceExtract.types == ("invoice.extract",)


def test_ocr_extract_from_base64():
    module = OcrExtract(engine=_engine())
    result = _run(module, {"document_b64": _b64(_png())})
    assert result["engine"] == "tesseract"
    assert result["pages"][0]["text"] == "tesseract text"
    assert result["pages"][0]["words"][0]["text"] == "word"
    assert result["cached"] is False


def test_ocr_extract_from_the_document_store(tmp_path):
    info = DocumentStore(tmp_path).put(_png())
    module = OcrExtract({"documents_dir": str(tmp_path)}, engine=_engine())
    result = _run(module, {"document_id": info.id, "settings": {"words": False}})
    assert result["document_id"] == info.id and result["pages"][0]["words"] == []
    again = _run(module, {"document_id": info.id, "settings": {"words": False}})
    assert again["cached"] is True


def test_known_id_skips_decoding_the_bytes():
    engine = _engine()
    module = OcrExtract(engine=engine)
    data = _png()
    first = _run(module, {"document_b64": _b64(data)})
    # The bytes are not even looked at: the id alone finds the cached result.
    again = _run(module, {"document_id": first["document_id"], "document_b64": "!!"})
    assert again["cached"] is True


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, "needs document_id or document_b64"),
        ({"document_id": 5}, "document_id must be a string"),
        ({"document_b64": 5}, "must be a base64 string"),
        ({"document_b64": "not base64!"}, "not valid base64"),
        ({"document_b64": ""}, "document is empty"),
        ({"document_b64": _b64(b"hello")}, "not a PNG, JPEG, TIFF or PDF"),
        ({"document_b64": _b64(_png()), "document_id": "0" * 64}, "does not match"),
        ({"document_id": "0" * 64}, "no document store"),
        ({"document_b64": _b64(_png()), "settings": {"psm": 99}}, "invalid OCR settings"),
    ],
)
def test_bad_payloads(payload, reason):
    with pytest.raises(BadPayload, match=reason):
        _run(OcrExtract(engine=_engine()), payload)


def test_unknown_document_id(tmp_path):
    module = OcrExtract({"documents_dir": str(tmp_path)}, engine=_engine())
    with pytest.raises(BadPayload, match="no document with id"):
        _run(module, {"document_id": "a" * 64})


def test_oversized_base64_is_refused_before_decoding():
    module = OcrExtract({"max_bytes": 1000})
    assert module.engine.limits.max_bytes == 1000
    with pytest.raises(BadPayload, match="over the limit of 1000 bytes"):
        _run(module, {"document_b64": "A" * 4000})


def test_invoice_extract_on_a_pdf_with_a_text_layer():
    invoice = samples.random_invoice(random.Random(42))
    module = InvoiceExtract(engine=_engine())
    result = _run(module, {"document_b64": _b64(samples.invoice_text_pdf(invoice))})
    assert result["values"] == invoice.truth()
    assert result["ocr"]["engine"] == "pdf-text"
    for name, field in result["fields"].items():
        assert field["value"] == invoice.truth()[name]
        assert 0.5 <= field["confidence"] <= 1.0


async def test_health_follows_tesseract():
    healthy = OcrExtract(engine=_engine())
    assert await call_health(healthy) is HealthState.HEALTHY
    missing = OcrEngine(tesseract=StubReader("tesseract", (), installed=False))
    assert await call_health(OcrExtract(engine=missing)) is HealthState.UNHEALTHY


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"max_pages": "x"}, "options.max_pages must be a positive whole number, got 'x'"),
        ({"max_bytes": 0}, "options.max_bytes must be a positive whole number, got 0"),
        ({"templates_dir": 5}, "options.templates_dir must be a folder path string, got 5"),
        ({"documents_dir": ["a"]}, "options.documents_dir must be a folder path string"),
    ],
)
def test_a_bad_module_option_is_refused_by_its_name(options, says):
    """A TOML typo in a module option says which option, not Python's int() message."""
    with pytest.raises(ValueError, match=re.escape(says)):
        OcrExtract(options)


def test_a_numeric_option_given_as_digits_still_reads():
    assert OcrExtract({"max_bytes": "1000"}).engine.limits.max_bytes == 1000
