"""API keys and roles through the real gateway: 401 everywhere but health, the role-by-route
matrix, keys never stored in plain text, revocation, expiry, rotation, audit and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from gateway.app import create_app
from runtime.config import Settings
from runtime.keys import hash_key
from tests.integration.conftest import ROOT, Fleet, submit, wait_terminal
from tests.integration.outcomes import query

PUBLIC = {"/healthz", "/readyz"}


class _NoControl:
    async def submit_many(self, requests):
        return []

    async def list_modules(self):
        return []


def app_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the gateway app registers."""
    app = create_app(Settings(), _NoControl(), None)  # type: ignore[arg-type]
    return sorted(
        {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    )


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123abcd", path)


async def create_key(http: aiohttp.ClientSession, url: str, **body: Any) -> dict[str, Any]:
    async with http.post(f"{url}/v1/keys", json=body) as response:
        answer = await response.json()
        assert response.status == 201, answer
        return answer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def status_of(
    url: str, method: str, path: str, headers: dict[str, str], json: Any = None
) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.request(method, url + path, headers=headers, json=json) as response:
            await response.read()
            return response.status


async def test_every_route_but_health_answers_401_without_a_key(fleet: Fleet):
    routes = app_routes()
    assert len(routes) >= 20, routes  # the walk really found the app's routes
    async with aiohttp.ClientSession() as session:
        for method, path in routes:
            async with session.request(method, fleet.url + concrete(path)) as response:
                if path in PUBLIC:
                    assert response.status in (200, 503), (method, path)
                    continue
                assert response.status == 401, (method, path, response.status)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                if method != "HEAD":
                    error = (await response.json())["error"]
                    assert error["code"] == "unauthenticated"
                    assert error["request_id"] == response.headers["X-Request-ID"]
            async with session.request(
                method, fleet.url + concrete(path), headers=bearer("rf_not-a-real-key")
            ) as response:
                assert response.status == (200 if path in PUBLIC else 401), (method, path)


async def test_role_by_route_matrix(fleet: Fleet, http: aiohttp.ClientSession):
    url = fleet.url
    keys = {
        "admin": fleet.admin_key,
        "operator": (await create_key(http, url, role="operator"))["key"],
        "viewer": (await create_key(http, url, role="viewer"))["key"],
        "operator-echo": (await create_key(http, url, role="operator", modules=["echo"]))["key"],
        "viewer-echo": (await create_key(http, url, role="viewer", modules=["echo"]))["key"],
    }
    echo_id = await submit(http, url, {"type": "echo", "payload": {"m": 1}})
    sleep_id = await submit(http, url, {"type": "sleep", "payload": {"seconds": 0.01}})
    await wait_terminal(http, url, [echo_id, sleep_id])

    # (name, method, path, body, roles allowed). A refused call is 403; an allowed one is
    # anything but 401/403 (a 404/409/422 shows the role check passed).
    everyone = set(keys)
    operators = {"admin", "operator", "operator-echo"}
    on_sleep = {"admin", "operator", "viewer"}
    cases: list[tuple[str, str, str, Any, set[str]]] = [
        ("submit echo", "POST", "/v1/robots", {"type": "echo"}, operators),
        ("submit sleep", "POST", "/v1/robots", {"type": "sleep"}, {"admin", "operator"}),
        ("list robots", "GET", "/v1/robots", None, everyone),
        ("list echo robots", "GET", "/v1/robots?type=echo", None, everyone),
        ("list sleep robots", "GET", "/v1/robots?type=sleep", None, on_sleep),
        ("get echo robot", "GET", f"/v1/robots/{echo_id}", None, everyone),
        ("get sleep robot", "GET", f"/v1/robots/{sleep_id}", None, on_sleep),
        ("echo events", "GET", f"/v1/robots/{echo_id}/events", None, everyone),
        ("sleep events", "GET", f"/v1/robots/{sleep_id}/events", None, on_sleep),
        ("cancel echo", "POST", f"/v1/robots/{echo_id}/cancel", None, operators),
        ("cancel sleep", "POST", f"/v1/robots/{sleep_id}/cancel", None, {"admin", "operator"}),
        ("list modules", "GET", "/v1/modules", None, everyone),
        ("register module", "POST", "/v1/modules", {"name": "x"}, {"admin"}),
        ("list keys", "GET", "/v1/keys", None, {"admin"}),
        ("create key", "POST", "/v1/keys", {"role": "nobody"}, {"admin"}),
        ("revoke key", "POST", "/v1/keys/0123abcd/revoke", None, {"admin"}),
        ("rotate key", "POST", "/v1/keys/0123abcd/rotate", None, {"admin"}),
        ("audit", "GET", "/v1/audit", None, {"admin"}),
        ("metrics", "GET", "/metrics", None, everyone),
        ("openapi", "GET", "/openapi.json", None, everyone),
    ]
    failures = []
    for name, method, path, body, allowed in cases:
        for who, key in keys.items():
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                async with session.request(
                    method, url + path, headers=bearer(key), json=body
                ) as response:
                    payload = await response.read()
                    got = response.status
            expected_denied = who not in allowed
            if expected_denied and got != 403:
                failures.append(f"{who} {name}: expected 403, got {got}")
            elif not expected_denied and got in (401, 403):
                failures.append(f"{who} {name}: expected allowed, got {got} {payload[:200]!r}")
            elif expected_denied:
                message = json.loads(payload)["error"]["message"]
                assert "role" in message or "limited to modules" in message, message
    assert not failures, "\n".join(failures)

    # A scoped key sees only its modules' robots and modules.
    headers = bearer(keys["viewer-echo"])
    async with http.get(f"{url}/v1/robots?limit=500", headers=headers) as response:
        robots = (await response.json())["robots"]
    assert robots and {r["type"] for r in robots} == {"echo"}
    async with http.get(f"{url}/v1/modules", headers=headers) as response:
        assert [m["name"] for m in (await response.json())["modules"]] == ["echo"]


async def test_keys_are_stored_hashed_revoked_and_expired_keys_get_401(
    fleet: Fleet, http: aiohttp.ClientSession
):
    made = [await create_key(http, fleet.url, role="viewer", name=f"k{i}") for i in range(3)]
    rows = query(fleet.db_path, "SELECT * FROM api_keys")
    stored_text = "\n".join(repr(row) for row in rows)
    for key in [fleet.admin_key, *(m["key"] for m in made)]:
        secret = key.removeprefix("rf_")
        assert key not in stored_text and secret not in stored_text
        assert hash_key(key) in stored_text
    for key in made:
        assert await status_of(fleet.url, "GET", "/v1/modules", bearer(key["key"])) == 200

    # Revoked through this gateway: refused at once (its cache is cleared).
    async with http.post(f"{fleet.url}/v1/keys/{made[0]['id']}/revoke") as response:
        assert response.status == 200 and (await response.json())["state"] == "revoked"
    assert await status_of(fleet.url, "GET", "/v1/modules", bearer(made[0]["key"])) == 401
    async with http.post(f"{fleet.url}/v1/keys/{made[0]['id']}/revoke") as response:
        assert response.status == 409

    # Revoked behind the gateway's back (another gateway, the store): refused within the TTL.
    query_rw(fleet, "UPDATE api_keys SET revoked_at = 1 WHERE id = ?", made[1]["id"])
    await asyncio.sleep(1.2)  # key_cache_ttl_s = 1 in the test config
    assert await status_of(fleet.url, "GET", "/v1/modules", bearer(made[1]["key"])) == 401

    expiring = await create_key(http, fleet.url, role="operator", expires_in_s=1.0)
    assert await status_of(fleet.url, "GET", "/v1/modules", {"X-API-Key": expiring["key"]}) == 200
    await asyncio.sleep(1.2)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fleet.url}/v1/modules", headers=bearer(expiring["key"])) as r:
            assert r.status == 401
            assert "expired" in (await r.json())["error"]["message"]


def query_rw(fleet: Fleet, sql: str, *args: object) -> None:
    import sqlite3

    with sqlite3.connect(fleet.db_path, timeout=10) as conn:
        conn.execute(sql, args)


async def test_rotation_keeps_both_keys_valid_during_the_overlap(
    fleet: Fleet, http: aiohttp.ClientSession
):
    old = await create_key(http, fleet.url, role="operator", modules=["echo"])
    async with http.post(
        f"{fleet.url}/v1/keys/{old['id']}/rotate", json={"overlap_s": 2.0}
    ) as response:
        new = await response.json()
        assert response.status == 201, new
    assert new["key"] != old["key"] and new["rotated_from"] == old["id"]
    assert (new["role"], new["modules"]) == ("operator", ["echo"])
    for key in (old["key"], new["key"]):
        assert await status_of(fleet.url, "GET", "/v1/modules", bearer(key)) == 200
        robot = {"type": "echo", "payload": {"rotated": True}}
        assert await status_of(fleet.url, "POST", "/v1/robots", bearer(key), robot) == 202
    await asyncio.sleep(2.3)
    assert await status_of(fleet.url, "GET", "/v1/modules", bearer(old["key"])) == 401
    assert await status_of(fleet.url, "GET", "/v1/modules", bearer(new["key"])) == 200
    async with http.get(f"{fleet.url}/v1/keys") as response:
        states = {k["id"]: k["state"] for k in (await response.json())["keys"]}
    assert (states[old["id"]], states[new["id"]]) == ("rotated", "active")


async def test_audit_records_mutations_and_auth_failures(fleet: Fleet, http: aiohttp.ClientSession):
    async with http.post(f"{fleet.url}/v1/robots", json={"type": "echo"}) as response:
        robot_id = (await response.json())["id"]
        submit_request = response.headers["X-Request-ID"]
    viewer = await create_key(http, fleet.url, role="viewer")
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(f"{fleet.url}/v1/robots", json={"type": "echo"}) as response:
            unauthenticated_request = response.headers["X-Request-ID"]
        async with anonymous.post(
            f"{fleet.url}/v1/robots", json={"type": "echo"}, headers=bearer(viewer["key"])
        ) as response:
            assert response.status == 403
            denied_request = response.headers["X-Request-ID"]

    async def entries() -> dict[str, dict]:
        async with http.get(f"{fleet.url}/v1/audit?limit=500") as response:
            assert response.status == 200
            return {e["request_id"]: e for e in (await response.json())["entries"]}

    wanted = {submit_request, unauthenticated_request, denied_request}
    for _ in range(50):
        found = await entries()
        if wanted <= set(found):
            break
        await asyncio.sleep(0.1)
    assert wanted <= set(found)
    ok = found[submit_request]
    assert (ok["action"], ok["target"], ok["outcome"], ok["status"]) == (
        "POST /v1/robots",
        robot_id,
        "ok",
        202,
    )
    assert ok["actor"] != "anonymous" and ok["client"] == "127.0.0.1"
    assert found[unauthenticated_request]["outcome"] == "unauthenticated"
    assert found[unauthenticated_request]["actor"] == "anonymous"
    denied = found[denied_request]
    assert (denied["outcome"], denied["actor"], denied["status"]) == ("denied", viewer["id"], 403)


def robofleet(fleet: Fleet, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cluster.cli", *args, "--url", fleet.url]
    command += ["--api-key", key or fleet.admin_key]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ}
    )


def test_keys_commands(fleet: Fleet):
    created = robofleet(fleet, "keys", "create", "--role", "viewer", "--expires", "30d")
    assert created.returncode == 0, created.stderr
    key = re.search(r"^\s+(rf_\S+)$", created.stdout, re.M)
    key_id = re.search(r"^key id:\s+(\w+)", created.stdout, re.M)
    assert key and key_id, created.stdout
    listed = robofleet(fleet, "keys", "list")
    assert listed.returncode == 0 and key_id[1] in listed.stdout
    assert key[1] not in listed.stdout
    assert robofleet(fleet, "modules", key=key[1]).returncode == 0
    denied = robofleet(fleet, "keys", "list", key=key[1])
    assert denied.returncode == 1 and "403" in denied.stderr
    rotated = robofleet(fleet, "keys", "rotate", key_id[1], "--overlap", "1h")
    assert rotated.returncode == 0, rotated.stderr
    new_key = re.search(r"^\s+(rf_\S+)$", rotated.stdout, re.M)
    assert new_key and new_key[1] != key[1]
    assert robofleet(fleet, "keys", "revoke", key_id[1]).returncode == 0
    assert robofleet(fleet, "modules", key=key[1]).returncode == 1
    assert robofleet(fleet, "modules", key=new_key[1]).returncode == 0


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_both_key_headers_work(fleet: Fleet, header: str):
    value = f"Bearer {fleet.admin_key}" if header == "Authorization" else fleet.admin_key
    assert await status_of(fleet.url, "GET", "/v1/modules", {header: value}) == 200
