"""``GET /readyz`` details the store, cache, Redis, each module and each mailbox, while its
status (200 or 503) still depends on the orchestrator and the store alone.

An in-process gateway on a real SQLite store and real Redis (or a port where none listens),
with the fake orchestrator of ``gateway_app``: no Ray needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.openapi import build_openapi
from gateway.readiness import MailboxReadiness
from gateway.state import MAILBOXES
from runtime.config import Settings
from runtime.messages import ModuleInfo
from runtime.models import HealthState, ReplicaInfo
from runtime.store import SqliteStore
from tests.integration.conftest import REDIS_URL, free_port
from tests.integration.gateway_app import FakeControlPlane


def _replica(name: str, alive: bool = True) -> ReplicaInfo:
    return ReplicaInfo(name=name, in_flight=0, slots=4, health=HealthState.HEALTHY, alive=alive)


def _module(name: str, breaker: str = "closed", replicas: list[ReplicaInfo] | None = None):
    return ModuleInfo(
        name=name,
        class_path=f"tests.fake:{name}",
        types=[name],
        health=HealthState.HEALTHY,
        breaker=breaker,
        performance=1.0,
        queued=3,
        replicas=replicas if replicas is not None else [_replica(f"module:{name}:0")],
    )


class Orchestrator(FakeControlPlane):
    """Three modules: one fine, one with its breaker open, one with every replica down."""

    answers = True

    async def ready(self) -> bool:
        """Answer, or fail like an orchestrator that cannot be reached."""
        if not self.answers:
            raise ConnectionError("orchestrator unreachable")
        return True

    async def list_modules(self) -> list[ModuleInfo]:
        """The three modules."""
        return [
            _module("echo"),
            _module("flaky", breaker="open"),
            _module("gone", replicas=[_replica("module:gone:0", alive=False)]),
        ]


class Mailboxes:
    """Two watched mailboxes, one of them stale."""

    async def mailbox_states(self) -> list[MailboxReadiness]:
        """Their states."""
        return [
            MailboxReadiness(name="invoices", status="ok", last_contact_at=1_700_000_000.0),
            MailboxReadiness(name="support", status="stale", detail="silent for 900 s"),
        ]


@asynccontextmanager
async def gateway(
    data_dir: Path, mailboxes: bool = False, **settings: Any
) -> AsyncIterator[tuple[TestClient, Orchestrator]]:
    store = SqliteStore(data_dir / "robofleet.db")
    control = Orchestrator(store)
    app = create_app(Settings(data_dir=data_dir, **settings), control, store)
    if mailboxes:
        app[MAILBOXES] = Mailboxes()
    async with TestClient(TestServer(app)) as client:
        yield client, control


def _check_against_openapi(status: int, body: dict) -> None:
    document = build_openapi()
    schema = document["paths"]["/readyz"]["get"]["responses"][str(status)]["content"]
    schema = schema["application/json"]["schema"]
    jsonschema.validate(
        body, {**schema, "components": document["components"]}, cls=jsonschema.Draft202012Validator
    )


async def test_ready_gateway_details_every_part(tmp_path: Path):
    async with gateway(tmp_path, mailboxes=True, redis_url=REDIS_URL) as (client, _):
        response = await client.get("/readyz")
        body = await response.json()
    assert response.status == 200, body
    _check_against_openapi(200, body)
    assert body["status"] == "ready"
    assert body["checks"] == {"orchestrator": "ok", "store": "ok"}
    details = body["details"]
    assert details["orchestrator"] == "ok"
    assert details["store"]["status"] == "ok" and details["store"]["kind"] == "sqlite"
    assert details["store"]["latency_ms"] >= 0
    assert details["redis"] == {"status": "ok"}
    assert details["cache"]["status"] == "not_deployed"
    modules = {m["name"]: m for m in details["modules"]}
    assert modules["echo"]["status"] == "ok"
    assert modules["flaky"]["status"] == "degraded" and modules["flaky"]["breaker"] == "open"
    assert modules["gone"]["status"] == "down" and modules["gone"]["replicas_alive"] == 0
    assert modules["echo"]["queued"] == 3 and modules["echo"]["replicas"] == 1
    assert [(m["name"], m["status"]) for m in details["mailboxes"]] == [
        ("invoices", "ok"),
        ("support", "stale"),
    ]


async def test_redis_down_is_a_detail_not_unreadiness(tmp_path: Path):
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    async with gateway(tmp_path, redis_url=nobody) as (client, _):
        response = await client.get("/readyz")
        body = await response.json()
    assert response.status == 200, body
    assert body["details"]["redis"] == {"status": "down"}
    assert body["details"]["mailboxes"] == []
    assert nobody not in await response.text()  # no address in a public document


async def test_without_redis_it_says_not_configured(tmp_path: Path):
    async with gateway(tmp_path) as (client, _):
        body = await (await client.get("/readyz")).json()
    assert body["details"]["redis"] == {"status": "not_configured"}


async def test_orchestrator_away_is_503_with_details(tmp_path: Path):
    async with gateway(tmp_path) as (client, control):
        control.answers = False
        response = await client.get("/readyz")
        body = await response.json()
    assert response.status == 503
    _check_against_openapi(503, body)
    assert body["status"] == "not_ready"
    assert body["checks"] == {"orchestrator": "unavailable", "store": "ok"}
    assert body["details"]["modules"] == []
    assert body["details"]["store"]["status"] == "ok"
