"""The OCR pool's pure parts: the document shelf, shared dedup, replica names, metrics text."""

from __future__ import annotations

import base64
import pickle

import pytest
from pydantic import ValidationError

from actors.deployment import new_replica_slot, replica_name
from gateway.module_metrics import render_samples
from runtime.config import Settings
from runtime.errors import BadDocument
from runtime.messages import DocumentAnswer
from runtime.models import ModuleSpec, Robot
from runtime.ocr import DocumentShelf, FetchedDocument, OcrEngine, OcrModule, OcrResult
from runtime.sdk import MetricSample, RobotContext, call_metrics
from tests.unit.test_ocr_pipeline import StubReader, _png


def _engine() -> OcrEngine:
    return OcrEngine(
        tesseract=StubReader("tesseract", (95.0,) * 10), rapidocr=StubReader("rapidocr", ())
    )


class ShelfSource:
    """A DocumentSource straight onto a shelf, as the Ray client is onto the actor."""

    def __init__(self, shelf: DocumentShelf) -> None:
        self.shelf = shelf

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        # Through pickle, as the answer crosses an actor boundary.
        return pickle.loads(pickle.dumps(self.shelf.fetch(doc_id, settings_hash)))

    def remember(self, result: OcrResult) -> None:
        self.shelf.remember(pickle.loads(pickle.dumps(result)))


def _run(module: OcrModule, robot_type: str, payload: dict) -> dict:
    robot = Robot(id="r1", type=robot_type, payload=payload)
    return module.run(robot, RobotContext(robot))


def test_shelf_stores_once_and_refuses_bad_documents_with_the_reason(tmp_path):
    shelf = DocumentShelf(tmp_path, max_bytes=10_000)
    first = shelf.put(_png())
    assert first.created is True and first.media_type == "image/png"
    assert shelf.put(_png()).created is False
    assert shelf.info(first.id) == DocumentAnswer(first.id, first.size, first.media_type)
    assert shelf.info("0" * 64) is None
    with pytest.raises(BadDocument, match="document is empty"):
        shelf.put(b"")
    with pytest.raises(BadDocument, match="over the limit"):
        shelf.put(b"%PDF-" + b"x" * 20_000)
    assert shelf.fetch("0" * 64, "s") == FetchedDocument()
    assert shelf.fetch(first.id, "s").data == _png()
    assert shelf.stats()["stored"] == 1


def test_a_result_made_by_one_worker_is_a_dedup_hit_on_another(tmp_path):
    shelf = DocumentShelf(tmp_path)
    doc_id = shelf.put(_png()).id
    one, two = _engine(), _engine()
    worker_one = OcrModule(engine=one, documents=ShelfSource(shelf))
    worker_two = OcrModule(engine=two, documents=ShelfSource(shelf))
    first = _run(worker_one, "ocr.extract", {"document_id": doc_id})
    assert first["cached"] is False and first["elapsed_s"] > 0
    second = _run(worker_two, "ocr.extract", {"document_id": doc_id})
    assert second["cached"] is True and second["pages"] == first["pages"]
    assert two.stats.calls("tesseract") == 0
    assert two.stats.snapshot()["shared_hits"] == 1
    third = _run(worker_two, "invoice.extract", {"document_id": doc_id})
    assert third["ocr"]["cached"] is True and "elapsed_s" in third
    assert two.stats.snapshot()["dedup_hits"] == 1


def test_unknown_document_id_fails_permanently(tmp_path):
    worker = OcrModule(engine=_engine(), documents=ShelfSource(DocumentShelf(tmp_path)))
    with pytest.raises(Exception, match="no document with id"):
        _run(worker, "ocr.extract", {"document_id": "a" * 64})


def test_ocr_module_handles_both_types_and_refuses_to_start_without_tesseract():
    assert set(OcrModule.types) == {"ocr.extract", "invoice.extract"}
    payload = {"document_b64": base64.b64encode(_png()).decode()}
    assert "values" in _run(OcrModule(engine=_engine()), "invoice.extract", payload)
    assert "pages" in _run(OcrModule(engine=_engine()), "ocr.extract", payload)
    missing = OcrEngine(tesseract=StubReader("tesseract", (), installed=False))
    with pytest.raises(RuntimeError, match="Tesseract is not installed"):
        OcrModule(engine=missing).setup()


def test_engine_stats_become_metric_samples():
    module = OcrModule(engine=_engine())
    _run(module, "ocr.extract", {"document_b64": base64.b64encode(_png()).decode()})
    returned = call_metrics(module)
    assert all(isinstance(s, MetricSample) and type(s.value) is float for s in returned)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in returned}
    calls = ("robofleet_ocr_engine_calls_total", (("engine", "tesseract"), ("outcome", "ok")))
    assert samples[calls] == 1
    assert samples[("robofleet_ocr_dedup_total", (("result", "miss"),))] == 1


def test_render_samples_as_prometheus_text():
    text = render_samples(
        [
            MetricSample("x_total", 3, {"replica": 'o"1'}, "counter"),
            MetricSample("x_total", 4.5, {"replica": "o2"}, "counter"),
            MetricSample("bad name", 1, {}, "gauge"),
        ]
    ).decode()
    assert text.splitlines() == [
        "# HELP x_total x_total",
        "# TYPE x_total counter",
        'x_total{replica="o\\"1"} 3.0',
        'x_total{replica="o2"} 4.5',
    ]
    assert render_samples([]) == b""


def test_replica_prefix_names_the_replicas():
    spec = ModuleSpec.model_validate(
        {"name": "ocr", "class": "a.b:C", "replica_prefix": "ocr", "replicas": 2}
    )
    assert new_replica_slot(spec, 1).name == "ocr:1"
    plain = ModuleSpec.model_validate({"name": "echo", "class": "a.b:C"})
    assert new_replica_slot(plain, 0).name == replica_name("echo", 0) == "module:echo:0"
    for bad in ("gateway", "module", "Ocr", "ocr:x", ""):
        with pytest.raises(ValidationError):
            ModuleSpec.model_validate({"name": "x", "class": "a.b:C", "replica_prefix": bad})


def test_default_ocr_pool_autoscales_up_to_one_worker_per_cpu_unless_configured(monkeypatch):
    import os

    from actors.ocr_worker import OcrWorker
    from cluster.deploy import DEFAULT_MODULES, load_cluster_settings
    from runtime.registry import load_module_class

    ocr = next(m for m in DEFAULT_MODULES if m.name == "ocr")
    assert ocr.replica_prefix == "ocr" and ocr.resources == {"num_cpus": 1}
    assert ocr.autoscaling is not None and ocr.replicas == ocr.autoscaling.min_replicas == 1
    assert ocr.autoscaling.max_replicas == (os.cpu_count() or 1)
    assert set(ocr.types) == {"ocr.extract", "invoice.extract"}
    assert load_module_class(ocr.class_path) is OcrWorker
    monkeypatch.delenv("ROBOFLEET_CONFIG_FILE", raising=False)
    monkeypatch.delenv("ROBOFLEET_MODULES", raising=False)
    monkeypatch.setenv("ROBOFLEET_OCR_WORKERS", "3")
    settings = load_cluster_settings()
    fixed = next(m for m in settings.modules if m.name == "ocr")
    assert fixed.replicas == 3 and fixed.autoscaling is None
    again = Settings(**settings.model_dump(mode="json"))
    assert next(m for m in again.modules if m.name == "ocr").replicas == 3
