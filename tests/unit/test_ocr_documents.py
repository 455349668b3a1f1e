"""Document store and type sniffing."""

from __future__ import annotations

import io
import pickle

import pytest
from PIL import Image

from runtime.errors import BadPayload
from runtime.ocr import DocumentNotFound, DocumentStore, OcrLimits, document_id, sniff_media_type


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (20, 10), 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg"),
        (b"II*\x00" + b"\0" * 20, "image/tiff"),
        (b"MM\x00*" + b"\0" * 20, "image/tiff"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\r\n  %PDF-1.4\n", "application/pdf"),  # junk before the header, as readers allow
        (b"GIF89a", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_sniff_media_type(data, expected):
    assert sniff_media_type(data) == expected


def test_put_is_content_addressed_and_idempotent(tmp_path):
    store = DocumentStore(tmp_path)
    data = _png()
    info = store.put(data)
    assert info.id == document_id(data) and len(info.id) == 64
    assert info.size == len(data) and info.media_type == "image/png"
    assert store.put(data) == info
    assert store.get(info.id) == data
    assert store.info(info.id) == info
    assert info.id in store
    assert info.to_dict() == {"id": info.id, "size": len(data), "media_type": "image/png"}
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"just some text", "not a PNG, JPEG, TIFF or PDF"),
        (b"%PDF-" + b"0" * 2000, "over the limit of 1000 bytes"),
    ],
)
def test_put_rejects_bad_documents(tmp_path, data, reason):
    store = DocumentStore(tmp_path, OcrLimits(max_bytes=1000))
    with pytest.raises(BadPayload, match=reason):
        store.put(data)
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "ABC", "g" * 64, "A" * 64])
def test_get_refuses_ids_that_are_not_sha256(tmp_path, bad_id):
    with pytest.raises(DocumentNotFound, match="64 lowercase hex"):
        DocumentStore(tmp_path).get(bad_id)
    assert bad_id not in DocumentStore(tmp_path)


def test_get_unknown_document(tmp_path):
    with pytest.raises(DocumentNotFound, match="no document with id"):
        DocumentStore(tmp_path).get("0" * 64)
    with pytest.raises(DocumentNotFound):
        DocumentStore(tmp_path).info("0" * 64)


def test_document_not_found_is_a_bad_payload_and_pickles():
    error = DocumentNotFound("no document with id x")
    assert isinstance(error, BadPayload) and not error.retryable
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DocumentNotFound and str(copy) == "no document with id x"
