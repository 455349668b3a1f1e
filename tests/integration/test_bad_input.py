"""Bad input gets a 4xx with the uniform JSON error body, never a 500."""

from __future__ import annotations

import gzip

import brotli
import pytest

CASES = [
    ("malformed JSON", b'{"type": "echo", ', 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("not an object", b"[1, 2]", 422, "validation_error"),
    ("unknown robot type", b'{"type": "no-such-type"}', 422, "unknown_robot_type"),
    ("missing type", b'{"payload": {}}', 422, "validation_error"),
    ("priority out of range", b'{"type": "echo", "priority": 12}', 422, "validation_error"),
    ("negative timeout", b'{"type": "echo", "timeout_s": -1}', 422, "validation_error"),
    ("unknown field", b'{"type": "echo", "colour": "red"}', 422, "validation_error"),
    ("payload not an object", b'{"type": "echo", "payload": 3}', 422, "validation_error"),
    (
        "payload over the size limit",
        b'{"type": "echo", "payload": {"blob": "' + b"x" * 2_000_000 + b'"}}',
        413,
        None,
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_bad_submit_is_a_4xx_with_a_message(fleet, http, name, body, status, code):
    async with http.post(
        f"{fleet.url}/v1/robots", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == status
        error = (await response.json())["error"]
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code:
        assert error["code"] == code
    assert "Traceback" not in error["message"] and "/work" not in error["message"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "status=bogus", "colour=red"])
async def test_bad_list_query_is_422(fleet, http, query):
    async with http.get(f"{fleet.url}/v1/robots?{query}") as response:
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "validation_error"


async def test_unknown_robot_is_404(fleet, http):
    async with http.get(f"{fleet.url}/v1/robots/0000nothing") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_unknown_route_is_404_json(fleet, http):
    async with http.get(f"{fleet.url}/v1/nowhere") as response:
        assert response.status == 404
        assert "error" in await response.json()


ECHO = b'{"type": "echo", "payload": {"n": 1}}'
ENCODED_CASES = [
    ("gzip that is not gzip", "gzip", ECHO, 400, "bad_request"),
    ("deflate that is not deflate", "deflate", ECHO, 400, "bad_request"),
    ("br that is not brotli", "br", ECHO, 400, "bad_request"),
    ("an encoding robofleet does not take", "compress", ECHO, 415, "unsupported_media_type"),
    ("zstd, which aiohttp cannot decode here", "zstd", ECHO, 415, "unsupported_media_type"),
    ("real gzip", "gzip", gzip.compress(ECHO), 202, None),
    ("real brotli", "br", brotli.compress(ECHO), 202, None),
]


@pytest.mark.parametrize(
    ("name", "encoding", "body", "status", "code"), ENCODED_CASES, ids=[c[0] for c in ENCODED_CASES]
)
async def test_a_body_is_read_as_its_content_encoding_says(
    fleet, http, name, encoding, body, status, code
):
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    async with http.post(f"{fleet.url}/v1/robots", data=body, headers=headers) as response:
        assert response.status == status
        answer = await response.json()
    if code:
        assert answer["error"]["code"] == code and answer["error"]["message"]
    else:
        assert answer["status"] == "queued"


async def test_a_key_that_is_not_ascii_is_unknown_not_a_failure(fleet, http):
    async with http.get(
        f"{fleet.url}/v1/robots", headers={"Authorization": "Bearer \u00ff\u00fe-key"}
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"]["message"] == "unknown API key"


async def test_a_key_limited_to_no_module_is_refused(fleet, http):
    body = {"role": "operator", "modules": []}
    async with http.post(f"{fleet.url}/v1/keys", json=body) as response:
        assert response.status == 422
        assert "modules" in (await response.json())["error"]["message"]
