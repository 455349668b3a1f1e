"""The OpenAPI document matches the app's routes both ways, and schemathesis finds no 5xx and
no response that breaks the document when run against the running gateway."""

from __future__ import annotations

import time
from collections import Counter

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.openapi import build_openapi
from tests.integration.conftest import Fleet, submit, wait_terminal
from tests.integration.test_auth import app_routes, create_key

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_openapi_lists_exactly_the_app_routes():
    served = {(m, p) for m, p in app_routes() if m != "HEAD"}  # HEAD is implied by GET
    document = build_openapi()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the app does not serve"
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    for name in ("RobotRequest", "Robot", "KeyCreate", "KeyCreated", "AuditEntry", "ErrorBody"):
        assert name in schemas


async def test_served_document_is_the_built_one(fleet: Fleet, http: aiohttp.ClientSession):
    async with http.get(f"{fleet.url}/openapi.json") as response:
        assert response.status == 200
        served = await response.json()
    assert served == build_openapi()


def test_schemathesis_finds_no_5xx_and_no_schema_breaks(fleet: Fleet, request):
    """Every operation with generated input, then the robot and key operations again with
    ids that exist (random ids only ever reach the 404 branch)."""
    import asyncio

    async def fixtures() -> tuple[str, str, str]:
        async with aiohttp.ClientSession(headers=fleet.admin_headers) as http:
            robot_id = await submit(http, fleet.url, {"type": "echo", "payload": {"st": 1}})
            await wait_terminal(http, fleet.url, [robot_id])
            running = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 10}})
            key = await create_key(http, fleet.url, role="viewer", name="schemathesis")
            return robot_id, running, key["id"]

    robot_id, running_id, key_id = asyncio.run(fixtures())
    schema = schemathesis.openapi.from_url(
        f"{fleet.url}/openapi.json", headers=fleet.admin_headers, timeout=30
    )
    session = requests.Session()
    session.headers.update(fleet.admin_headers)
    ran: Counter = Counter()
    started = time.monotonic()

    def run(operation, **fixed) -> None:
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(**fixed))
        def one(case) -> None:
            case.call_and_validate(
                base_url=fleet.url,
                session=session,
                headers=fleet.admin_headers,
                checks=CHECKS,
                timeout=30,
            )
            ran[operation.label] += 1

        one()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        if "{name}" in operation.path:
            # Scaling a real module to a random size would starve the shared test fleet.
            run(operation, path_parameters={"name": "no-such-module"})
        elif operation.path == "/v1/notifications/stream":
            # A stream lasts until its client leaves: each case ends it at the shortest bound.
            run(operation, query={"max_s": 0.1})
        else:
            run(operation)
    for operation in operations:
        if "{robot_id}" in operation.path:
            for some_id in (robot_id, running_id):
                run(operation, path_parameters={"robot_id": some_id})
        elif "{key_id}" in operation.path:
            run(operation, path_parameters={"key_id": key_id})
    total = sum(ran.values())
    line = (
        f"schemathesis: {total} cases over {len(operations)} operations in "
        f"{time.monotonic() - started:.1f}s, no 5xx, no schema violation"
    )
    print("\n" + line)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # shown even when pytest captures output
        reporter.write_line(line)
    served = session.get(f"{fleet.url}/openapi.json", timeout=30).json()
    labels = {operation.label for operation in operations}
    missing = [
        f"{method.upper()} {path}"
        for path, methods in served["paths"].items()
        for method in methods
        if f"{method.upper()} {path}" not in labels and path != "/openapi.json"
    ]  # loaded from its URL, schemathesis leaves out the document's own route
    assert not missing, f"operations schemathesis did not load: {missing}"
    assert total >= len(operations) * 3, ran
    for operation in operations:
        assert ran[operation.label] > 0, operation.label
    # Rules and schedules schemathesis created would fire on the session's later robots.
    for rule in session.get(f"{fleet.url}/v1/rules", timeout=30).json()["rules"]:
        session.delete(f"{fleet.url}/v1/rules/{rule['id']}", timeout=30)


@pytest.mark.parametrize("path", ["/v1/robots", "/v1/audit"])
async def test_error_body_matches_the_document(fleet: Fleet, http, path):
    async with http.get(f"{fleet.url}{path}?limit=0") as response:
        assert response.status == 422
        body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
