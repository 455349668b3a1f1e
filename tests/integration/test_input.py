"""No input harms another: on SQLite and on PostgreSQL alike, text the store cannot hold is
refused with a 4xx, payloads are refused unless every reader can read them back, deadlines
are finite, and what robofleet writes itself (module errors, progress, audit) is cleaned.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson
import pytest
from yarl import URL

from runtime.text import MAX_JSON_DEPTH
from tests.integration.conftest import Fleet, wait_terminal, wait_until
from tests.integration.pg_fleet import postgres_fleet

INPUT_CONFIG = Path(__file__).with_name("robofleet-input.toml")
NUL_MODULE = {
    "name": "nul-reporter",
    "class": "tests.integration.input_robots:NulReporter",
    "replicas": 1,
    "max_concurrency": 8,
}


@pytest.fixture(scope="module")
def pg_fleet(tmp_path_factory: pytest.TempPathFactory):
    """A robofleet of its own on a fresh PostgreSQL database, for this module's tests."""
    with postgres_fleet(tmp_path_factory.mktemp("robofleet-pg"), INPUT_CONFIG) as fleet:
        yield fleet


@pytest.fixture(params=["sqlite", "postgres"])
def store_fleet(request: pytest.FixtureRequest) -> Fleet:
    """The session's robofleet on SQLite, then this module's on PostgreSQL."""
    return request.getfixturevalue("fleet" if request.param == "sqlite" else "pg_fleet")


@pytest.fixture
async def admin(store_fleet: Fleet):
    """A client session authenticated with the fleet's admin key."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60), headers=store_fleet.admin_headers
    ) as session:
        yield session


def _url(fleet: Fleet, path: str) -> URL:
    """An URL sent as written: ``%00`` stays a NUL on the wire."""
    return URL(f"{fleet.url}{path}", encoded=True)


NUL = "a\x00b"
# (method, path, JSON body): each carries a NUL where the store would get it.
NUL_REQUESTS: list[tuple[str, str, object]] = [
    ("POST", "/v1/robots", {"type": "echo", "idempotency_key": NUL}),
    ("POST", "/v1/robots", {"type": "echo", "payload": {NUL: 1}}),
    ("POST", "/v1/robots", {"type": "echo", "payload": {"text": NUL}}),
    ("POST", "/v1/robots", {"type": "echo", "payload": {"deep": [{"list": [NUL]}]}}),
    ("POST", "/v1/robots", {"type": NUL}),
    ("GET", "/v1/robots?type=a%00b", None),
    ("GET", "/v1/robots?cursor=a%00b", None),
    ("GET", "/v1/robots?status=%00", None),
    ("GET", "/v1/robots?a%00b=1", None),
    ("GET", "/v1/robots/a%00b", None),
    ("POST", "/v1/robots/a%00b/cancel", None),
    ("GET", "/v1/robots/a%00b/events", None),
    ("POST", "/v1/keys", {"role": "viewer", "name": NUL}),
    ("POST", "/v1/keys", {"role": "viewer", "modules": [NUL]}),
    ("POST", "/v1/keys/a%00b/revoke", None),
    ("POST", "/v1/keys/a%00b/rotate", None),
    ("GET", "/v1/audit?actor=a%00b", None),
    ("GET", "/v1/audit?cursor=a%00b", None),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": NUL}),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": "nul-x", "class": "tests.a\x00:B"}),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": "nul-x", "types": [NUL]}),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": "nul-x", "options": {NUL: 1}}),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": "nul-x", "options": {"o": NUL}}),
    ("POST", "/v1/modules", {**NUL_MODULE, "name": "nul-x", "resources": {NUL: 1}}),
    ("POST", "/v1/modules/a%00b/scale", {"replicas": 1}),
    ("GET", "/v1/documents/a%00b", None),
    ("GET", "/v1/modules?x=%00", None),
    ("GET", "/healthz?x=%00", None),
]


async def test_a_nul_in_any_input_is_a_4xx_never_a_500(store_fleet: Fleet, admin):
    answers = []
    for method, path, body in NUL_REQUESTS:
        data = orjson.dumps(body) if body is not None else None
        async with admin.request(
            method,
            _url(store_fleet, path),
            data=data,
            headers={"Content-Type": "application/json"},
        ) as response:
            error = (await response.json())["error"]
            answers.append((method, path, response.status, error["code"]))
    wrong = [answer for answer in answers if not 400 <= answer[2] < 500]
    assert not wrong, wrong
    # Each is refused for what it holds; none reaches the store and comes back as a 404.
    assert {status for *_, status, _ in answers} == {422}, answers


async def test_a_nul_in_the_idempotency_header_is_refused(store_fleet: Fleet):
    """HTTP itself forbids a NUL in a header: the server's parser refuses the request."""
    url = URL(store_fleet.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    body = b'{"type": "echo"}'
    writer.write(
        b"POST /v1/robots HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x00b\r\n"
        + f"Authorization: Bearer {store_fleet.admin_key}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line


async def test_one_bad_submit_among_200_valid_harms_none(store_fleet: Fleet, admin):
    robots = store_fleet.url + "/v1/robots"
    tag = uuid.uuid4().hex[:8]

    async def send(body: dict) -> tuple[int, dict]:
        async with admin.post(robots, data=orjson.dumps(body)) as response:
            return response.status, await response.json()

    bodies = [{"type": "echo", "payload": {"tag": tag, "n": n}} for n in range(200)]
    bad = {"type": "echo", "payload": {"tag": tag}, "idempotency_key": f"{tag}\x00bad"}
    answers = await asyncio.gather(
        *(send(b) for b in bodies[:100]), send(bad), *(send(b) for b in bodies[100:])
    )
    refused = answers[100]
    good = answers[:100] + answers[101:]
    assert refused[0] == 422 and "NUL" in refused[1]["error"]["message"], refused
    assert [status for status, _ in good] == [202] * 200, [a for a in good if a[0] != 202][:3]
    done = await wait_terminal(admin, store_fleet.url, [body["id"] for _, body in good], 120)
    assert {robot["status"] for robot in done.values()} == {"succeeded"}
    assert sorted(robot["result"]["n"] for robot in done.values()) == list(range(200))


async def _audit_entries(admin, fleet: Fleet, pages: int = 10) -> list[dict]:
    entries: list[dict] = []
    cursor = None
    for _ in range(pages):
        query = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        async with admin.get(f"{fleet.url}/v1/audit", params=query) as response:
            assert response.status == 200
            page = await response.json()
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return entries


async def test_an_anonymous_nul_request_does_not_blind_the_audit_trail(store_fleet: Fleet, admin):
    marker = uuid.uuid4().hex[:12]
    async with aiohttp.ClientSession() as anonymous:
        for method, path in [
            ("POST", f"/v1/robots/{marker}%00x/cancel"),
            ("GET", f"/v1/robots/{marker}%00y"),
            ("POST", f"/v1/nowhere/{marker}%00z"),
        ]:
            async with anonymous.request(method, _url(store_fleet, path)) as response:
                assert response.status == 401, (path, response.status)
    async with admin.post(
        f"{store_fleet.url}/v1/keys", json={"role": "viewer", "name": f"after {marker}"}
    ) as response:
        assert response.status == 201
        key_id = (await response.json())["id"]

    async def audited() -> bool:
        entries = await _audit_entries(admin, store_fleet)
        return any(e["target"] == key_id and e["action"] == "POST /v1/keys" for e in entries)

    await wait_until(audited, timeout_s=20)
    entries = await _audit_entries(admin, store_fleet)
    anonymous_entries = [e for e in entries if marker in (e["target"] or "") + e["action"]]
    # The refusals are on record too, their NUL replaced, nothing else changed.
    targets = {e["target"] for e in anonymous_entries}
    assert {f"{marker}\ufffdx", f"{marker}\ufffdy"} <= targets, anonymous_entries
    assert any(e["action"] == f"POST /v1/nowhere/{marker}\ufffdz" for e in anonymous_entries)
    assert all(e["actor"] == "anonymous" and e["status"] == 401 for e in anonymous_entries)


async def _register_nul_module(admin, fleet: Fleet) -> None:
    async with admin.post(f"{fleet.url}/v1/modules", json=NUL_MODULE) as response:
        assert response.status in (201, 409), await response.text()


async def test_a_module_error_with_a_nul_fails_its_robot_with_a_cleaned_reason(
    store_fleet: Fleet, admin
):
    await _register_nul_module(admin, store_fleet)
    robots = store_fleet.url + "/v1/robots"
    tag = uuid.uuid4().hex[:8]

    async def send(body: dict) -> str:
        async with admin.post(robots, json=body) as response:
            assert response.status == 202, await response.text()
            return (await response.json())["id"]

    kinds = ["nul.fail", "nul.crash", "nul.progress"]
    special = await asyncio.gather(
        *(send({"type": kind, "max_attempts": 1, "payload": {"tag": tag}}) for kind in kinds)
    )
    # Robots whose transitions share the commits of those with a NUL are not held up.
    others = await asyncio.gather(
        *(send({"type": "echo", "payload": {"tag": tag, "n": n}}) for n in range(30))
    )
    done = await wait_terminal(admin, store_fleet.url, [*special, *others], 60)
    failed, crashed, reported = (done[robot_id] for robot_id in special)
    assert failed["status"] == "failed"
    assert "bad\ufffdbyte in the input" in failed["error"]
    assert crashed["status"] in ("failed", "dead")
    assert "crashed\ufffdhere" in crashed["error"]
    assert reported["status"] == "succeeded"
    assert all(
        "\x00" not in (robot["error"] or "") + (robot["message"] or "") for robot in done.values()
    )
    assert {done[robot_id]["status"] for robot_id in others} == {"succeeded"}


# --- payload depth -----------------------------------------------------------------------


def nested(depth: int) -> dict:
    """A payload nested ``depth`` levels: objects and lists in turn, a number at the bottom."""
    value: object = depth
    for level in range(depth - 1, 0, -1):
        value = [value] if level % 2 else {"d": value}
    return {"d": value} if depth > 1 else {"d": depth}


def nested_text(depth: int) -> bytes:
    """:func:`nested` as JSON text, written out: no serialiser goes 1,100 levels deep."""
    opening, closing = [b'{"d": '], [b"}"]
    for level in range(1, depth):
        opening.append(b"[" if level % 2 else b'{"d": ')
        closing.append(b"]" if level % 2 else b"}")
    return b"".join(opening) + str(depth).encode() + b"".join(reversed(closing))


def test_nested_builds_the_depth_it_says():
    def depth_of(value: object) -> int:
        if isinstance(value, dict):
            return 1 + max((depth_of(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return 1 + max((depth_of(v) for v in value), default=0)
        return 0

    assert [depth_of(nested(d)) for d in (1, 2, 3, 64, 65)] == [1, 2, 3, 64, 65]
    assert all(orjson.loads(nested_text(d)) == nested(d) for d in (1, 2, 3, 64, 65, 200))


async def _events(admin, fleet: Fleet, robot_id: str) -> dict:
    """The ``result`` event of a robot's stream (its whole robot)."""
    async with admin.get(f"{fleet.url}/v1/robots/{robot_id}/events") as response:
        assert response.status == 200
        text = (await response.read()).decode()
    frames = [frame for frame in text.split("\n\n") if "event: result" in frame]
    assert frames, text[-500:]
    data = next(line for line in frames[-1].splitlines() if line.startswith("data: "))
    return orjson.loads(data[len("data: ") :])


async def test_payloads_at_every_depth_round_trip_or_are_refused(store_fleet: Fleet, admin):
    robots = store_fleet.url + "/v1/robots"
    gate = asyncio.Semaphore(32)

    async def send(depth: int) -> tuple[int, int, dict]:
        body = b'{"type": "echo", "payload": ' + nested_text(depth) + b"}"
        async with gate, admin.post(robots, data=body) as response:
            return depth, response.status, await response.json()

    answers = await asyncio.gather(*(send(depth) for depth in range(1, 1101)))
    wrong = [(d, s, b) for d, s, b in answers if s not in (202, 422)]
    assert not wrong, wrong[:3]
    accepted = {body["id"]: depth for depth, status, body in answers if status == 202}
    refused = [(depth, body) for depth, status, body in answers if status == 422]
    assert sorted(accepted.values()) == list(range(1, MAX_JSON_DEPTH + 1))
    assert all("nested deeper" in body["error"]["message"] for _, body in refused), refused[:2]

    done = await wait_terminal(admin, store_fleet.url, list(accepted), 120)
    for robot_id, robot in done.items():
        depth = accepted[robot_id]
        assert robot["status"] == "succeeded" and robot["payload"] == nested(depth)
        assert robot["result"] == nested(depth)
    streamed = await asyncio.gather(*(_events(admin, store_fleet, rid) for rid in accepted))
    assert [robot["payload"] for robot in streamed] == [nested(d) for d in accepted.values()]

    # Every list page answers, and holds the robots as they were sent.
    listed: dict[str, dict] = {}
    cursor = None
    while True:
        query = {"type": "echo", "limit": "500", **({"cursor": cursor} if cursor else {})}
        async with admin.get(robots, params=query) as response:
            assert response.status == 200, await response.text()
            page = await response.json()
        listed.update((robot["id"], robot) for robot in page["robots"] if robot["id"] in accepted)
        cursor = page["next_cursor"]
        if cursor is None or len(listed) == len(accepted):
            break
    assert {rid: robot["payload"] for rid, robot in listed.items()} == {
        rid: nested(depth) for rid, depth in accepted.items()
    }


# --- numbers -------------------------------------------------------------------------------

BAD_DEADLINES = [b'"NaN"', b'"nan"', b'"inf"', b'"-Infinity"', b'"Infinity"', b"1e999", b"-1e999"]


@pytest.mark.parametrize("deadline", BAD_DEADLINES, ids=[d.decode() for d in BAD_DEADLINES])
async def test_a_deadline_that_is_not_a_finite_time_is_422(store_fleet: Fleet, admin, deadline):
    body = b'{"type": "echo", "deadline": ' + deadline + b"}"
    async with admin.post(f"{store_fleet.url}/v1/robots", data=body) as response:
        assert response.status == 422, await response.text()
        message = (await response.json())["error"]["message"]
    # 1e999 is refused by the JSON parser itself (it is infinity as a double), before any
    # field is looked at; the others are refused naming the field.
    assert "deadline" in message or "finite" in message, message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", b'"NaN"'),
        ("timeout_s", b"1e999"),
        ("priority", b'"NaN"'),
        ("priority", b"1e3"),
    ],
)
async def test_other_numbers_that_are_not_finite_or_in_range_are_422(
    store_fleet: Fleet, admin, field, value
):
    body = b'{"type": "echo", "' + field.encode() + b'": ' + value + b"}"
    async with admin.post(f"{store_fleet.url}/v1/robots", data=body) as response:
        assert response.status == 422, await response.text()


# --- the whole API, generated -----------------------------------------------------------

SCHEMATHESIS_EXAMPLES = 15
# Statuses a schema-valid request may still get, for what no JSON Schema can say: whether a
# robot type or a module class is registered or importable (422), whether uploaded bytes are
# a PNG, JPEG, TIFF or PDF (415) or multipart framing aiohttp's parser takes (400).
SCHEMATHESIS_CONFIG = """
[auth.openapi.bearer]
bearer = "${ROBOFLEET_ST_KEY}"

[auth.openapi.apiKey]
api_key = "${ROBOFLEET_ST_KEY}"

[phases.stateful.inference]
algorithms = []

[[operations]]
include-operation-id = ["submitRobot", "registerModule"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "401", "403", "404", "409", "422", "429",
]

[[operations]]
include-operation-id = [
    "createRule", "createSchedule", "deleteRule", "deleteSchedule", "pauseSchedule",
    "resumeSchedule", "triggerSchedule", "backfillSchedule",
]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "401", "403", "404", "409", "422", "429",
]

# A mailbox's sender and subject filters are regular expressions in Python's dialect, which
# JSON Schema's "regex" format cannot say.
[[operations]]
include-operation-id = "addMailbox"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "401", "403", "404", "409", "422", "429",
]

# Schemathesis's coverage phase sends "0" as a schema-valid Last-Event-ID although the
# header's schema pattern is ^msg_[0-9a-f]{24}$; the stream answers it 422 as it should.
[[operations]]
include-operation-id = "streamNotifications"
parameters = { "query.max_s" = 0.1 }  # a stream lasts max_s: each case would take 30 s
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "401", "403", "404", "409", "422", "429",
]

[[operations]]
include-operation-id = "uploadDocument"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "415", "429",
]

[[operations]]
include-operation-id = "readyz"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

# The fleet serves other tests: its modules keep their sizes, its keys stay valid.
[[operations]]
include-operation-id = "scaleModule"
parameters = { "path.name" = "no-such-module" }

[[operations]]
include-operation-id = ["revokeKey", "rotateKey"]
parameters = { "path.key_id" = "${ROBOFLEET_ST_SPARE_KEY_ID}" }
"""


async def _new_key(admin, fleet: Fleet, role: str) -> dict:
    body = {"role": role, "name": "schemathesis"}
    async with admin.post(f"{fleet.url}/v1/keys", json=body) as response:
        assert response.status == 201
        return await response.json()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def schema_fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A robofleet of its own with this module's modules only, on SQLite, then on PostgreSQL
    (the first is stopped before the second starts).

    Not the session's fleet: schemathesis may submit ``sleep`` robots of an hour there and
    then follow them into event streams that only end when the robot does. Not ``pg_fleet``
    either: the tests above register ``nul-reporter`` there, whose types schemathesis picks
    up and submits; those robots crash and wait out their retries, and each event stream
    schemathesis follows to one of them holds its case up to the 30 s request timeout.
    """
    with postgres_fleet(
        tmp_path_factory.mktemp(f"robofleet-st-{request.param}"),
        INPUT_CONFIG,
        sqlite=request.param == "sqlite",
    ) as fleet:
        yield fleet


@pytest.mark.timeout(660)  # st run has 600 s of its own
async def test_schemathesis_all_checks_and_stateful_find_no_failure(
    schema_fleet: Fleet, tmp_path: Path, request: pytest.FixtureRequest
):
    """``st run`` with every check and every phase (stateful runs follow the document's
    links: a submitted robot to its reads and cancel, a created key to its revoke and
    rotation), against each store, with keys of its own."""
    async with aiohttp.ClientSession(headers=schema_fleet.admin_headers) as admin:
        await _schemathesis(schema_fleet, admin, tmp_path, request)


async def _schemathesis(
    store_fleet: Fleet, admin: aiohttp.ClientSession, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with admin.get(f"{store_fleet.url}/openapi.json") as response:
        (tmp_path / "openapi.json").write_bytes(await response.read())
    (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
    env = {
        **os.environ,
        "ROBOFLEET_ST_KEY": (await _new_key(admin, store_fleet, "admin"))["key"],
        "ROBOFLEET_ST_SPARE_KEY_ID": (await _new_key(admin, store_fleet, "viewer"))["id"],
    }
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        str(tmp_path / "openapi.json"),
        "--url",
        store_fleet.url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(SCHEMATHESIS_EXAMPLES),
        "--seed",
        "13",
        "--workers",
        "1",  # hypothesis's lambda-source cache is not thread-safe on CPython 3.11
        "--request-timeout",
        "30",
    ]
    started = time.monotonic()
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, output[-3000:]
    cases = int(generated[2])
    links = re.search(r"API Links:\s+(\d+) covered", output)
    line = (
        f"schemathesis ({request.node.callspec.id}): {cases} cases, all checks, stateful "
        f"({links[1] if links else '?'} links covered), in {took:.0f}s: no failure"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # shown even when pytest captures output
        reporter.write_line(line)
    assert cases >= 1_000, output[-3000:]
