"""The OCR pipeline with stand-in engines: fallback chain, stats and the dedup cache."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import cluster.invoice_samples as samples
from runtime.errors import BadPayload
from runtime.ocr import (
    EngineFailed,
    OcrEngine,
    OcrResult,
    OcrSettings,
    Recognition,
    WordBox,
)
from runtime.ocr.dedup import ResultCache


class StubReader:
    """A page reader that answers with fixed confidences, one per call, and counts calls."""

    def __init__(self, name, confidences, installed=True, fail=False):
        self.name = name
        self.confidences = list(confidences)
        self.installed = installed
        self.fail = fail
        self.calls = []

    def available(self):
        return self.installed

    def languages(self):
        return frozenset({"eng", "deu"})

    def read(self, image, psm=None, lang=None):
        self.calls.append((image.size, psm, lang))
        if self.fail:
            raise EngineFailed(f"{self.name} crashed")
        confidence = self.confidences[min(len(self.calls), len(self.confidences)) - 1]
        word = WordBox(text="word", confidence=confidence, left=30, top=15, width=60, height=30)
        return Recognition(text=f"{self.name} text", confidence=confidence, words=[word])


def _png(size=(300, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, "PNG")
    return buffer.getvalue()


def _engine(tesseract=(95.0,), rapidocr=(90.0,), **kwargs):
    tess = StubReader("tesseract", tesseract)
    rapid = StubReader("rapidocr", rapidocr, **kwargs)
    return OcrEngine(tesseract=tess, rapidocr=rapid), tess, rapid


def test_confident_first_read_stops_the_chain():
    engine, tess, rapid = _engine(tesseract=(95.0,))
    result = engine.process(_png())
    assert isinstance(result, OcrResult)
    assert result.engine == "tesseract" and result.engines_tried == ["tesseract"]
    assert [a.variant for a in result.attempts] == ["gray/psm3"]
    assert len(tess.calls) == 1 and tess.calls[0][1:] == (3, "eng")
    assert rapid.calls == []
    page = result.pages[0]
    assert page.text == "tesseract text" and page.confidence == 95.0
    assert result.media_type == "image/png" and len(result.document_id) == 64


def test_low_confidence_walks_the_chain_and_keeps_the_best():
    engine, tess, rapid = _engine(tesseract=(40.0, 60.0), rapidocr=(80.0,))
    result = engine.process(_png())
    assert [(a.engine, a.variant, a.confidence) for a in result.attempts] == [
        ("tesseract", "gray/psm3", 40.0),
        ("tesseract", "binarized/psm6", 60.0),
        ("rapidocr", "gray", 80.0),
    ]
    assert result.engine == "rapidocr" and result.confidence == 80.0
    assert result.engines_tried == ["tesseract", "rapidocr"]
    # The binarised try ran on a 1.5x upscaled page.
    assert tess.calls[1][0] == (450, 300)
    stats = engine.stats.snapshot()["engines"]
    assert stats["tesseract"]["calls"] == 2 and stats["rapidocr"]["wins"] == 1


def test_second_tesseract_try_can_win_and_its_boxes_are_scaled_back():
    engine, _, rapid = _engine(tesseract=(40.0, 90.0))
    result = engine.process(_png())
    assert result.engine == "tesseract" and result.pages[0].variant == "binarized/psm6"
    assert rapid.calls == []
    word = result.pages[0].words[0]
    assert (word.left, word.top, word.width, word.height) == (20, 10, 40, 20)


def test_threshold_and_fallback_settings():
    engine, tess, rapid = _engine(tesseract=(40.0,))
    result = engine.process(_png(), {"fallback": False})
    assert len(result.attempts) == 1 and result.confidence == 40.0
    engine, tess, rapid = _engine(tesseract=(40.0,))
    assert len(engine.process(_png(), {"confidence_threshold": 30}).attempts) == 1


def test_failing_engine_is_recorded_and_skipped():
    engine, _, rapid = _engine(tesseract=(40.0, 50.0), fail=True)
    result = engine.process(_png())
    assert result.engine == "tesseract" and result.confidence == 50.0
    assert result.attempts[-1].error == "rapidocr crashed"
    assert engine.stats.snapshot()["engines"]["rapidocr"]["failures"] == 1


def test_missing_second_engine_is_skipped():
    engine, _, rapid = _engine(tesseract=(40.0, 50.0), installed=False)
    result = engine.process(_png())
    assert rapid.calls == [] and result.engines_tried == ["tesseract"]


def test_no_engine_at_all_is_retryable():
    tess = StubReader("tesseract", (), fail=True)
    rapid = StubReader("rapidocr", (), installed=False)
    engine = OcrEngine(tesseract=tess, rapidocr=rapid)
    with pytest.raises(EngineFailed, match="no OCR engine could read page 1") as info:
        engine.process(_png())
    assert info.value.retryable
    assert engine.stats.snapshot()["failures"] == 1


def test_pdf_text_layer_runs_no_engine():
    engine, tess, _ = _engine()
    data = samples.text_pdf([[(50, 100, 12, "Invoice INV-9 total 12.00 EUR Acme Ltd", False)]])
    result = engine.process(data)
    assert result.engine == "pdf-text" and result.confidence == 100.0
    assert result.engines_tried == ["pdf-text"] and tess.calls == []
    assert result.text == "Invoice INV-9 total 12.00 EUR Acme Ltd"


def test_dedup_returns_the_cached_result_without_an_engine_call():
    engine, tess, _ = _engine()
    data = _png()
    first = engine.process(data)
    calls = engine.stats.calls("tesseract")
    second = engine.process(data)
    assert engine.stats.calls("tesseract") == calls == len(tess.calls) == 1
    assert second.cached and not first.cached
    assert second.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})
    snapshot = engine.stats.snapshot()
    assert snapshot["dedup_hits"] == 1 and snapshot["dedup_misses"] == 1
    assert snapshot["documents"] == 1


def test_lookup_by_id_and_settings():
    engine, _, _ = _engine()
    result = engine.process(_png(), {"dpi": 300})
    assert engine.lookup(result.document_id, {"dpi": 300}).cached
    assert engine.lookup(result.document_id) is None  # other settings, other result
    assert engine.lookup("0" * 64, {"dpi": 300}) is None


def test_other_settings_are_a_cache_miss():
    engine, tess, _ = _engine()
    engine.process(_png())
    engine.process(_png(), OcrSettings(psm=6))
    assert len(tess.calls) == 2


def test_bad_documents_are_not_cached_and_the_engine_keeps_serving():
    engine, tess, _ = _engine()
    for bad in (b"", samples.truncated_png(), samples.encrypted_pdf()):
        with pytest.raises(BadPayload):
            engine.process(bad)
    assert len(engine.cache) == 0
    assert engine.process(_png()).engine == "tesseract"
    assert engine.stats.snapshot()["failures"] == 3


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"dpi": 5}, "dpi"),
        ({"lang": "eng; rm -rf /"}, "lang"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_invalid_settings_are_bad_payload(settings, reason):
    engine, _, _ = _engine()
    with pytest.raises(BadPayload, match=f"invalid OCR settings: .*{reason}"):
        engine.process(_png(), settings)


def test_language_that_is_not_installed():
    engine, _, _ = _engine()
    with pytest.raises(BadPayload, match="OCR language 'fra' is not installed"):
        engine.process(_png(), {"lang": "eng+fra"})


def test_settings_fingerprint_is_stable_and_distinct():
    assert OcrSettings().fingerprint() == OcrSettings().fingerprint()
    assert OcrSettings().fingerprint() != OcrSettings(psm=6).fingerprint()


def test_result_cache_evicts_least_recently_used():
    engine, _, _ = _engine()
    result = engine.process(_png())
    cache = ResultCache(max_entries=2)
    cache.put(("a", "s"), result)
    cache.put(("b", "s"), result)
    assert cache.get(("a", "s")) is result  # a is now the most recent
    cache.put(("c", "s"), result)
    assert cache.get(("b", "s")) is None and cache.get(("a", "s")) is result
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize("settings", [[1], "eng", 5])
def test_settings_that_are_not_an_object_are_a_bad_payload(settings: object) -> None:
    """A payload's settings sent as a list, string or number fail the robot with the reason,
    not a TypeError the worker retries."""
    from runtime.ocr.pipeline import parse_settings

    with pytest.raises(BadPayload, match="settings must be a JSON object"):
        parse_settings(settings)  # type: ignore[arg-type]


def test_auto_joined_to_a_language_says_auto_stands_alone():
    """'auto+deu' is refused with what to send instead, not as a language named 'auto'."""
    engine, _, _ = _engine()
    with pytest.raises(BadPayload, match="'auto' stands alone"):
        engine.process(_png(), {"lang": "auto+deu"})
