"""Bad input gets a 4xx with the uniform JSON error body, never a 500."""

from __future__ import annotations

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
