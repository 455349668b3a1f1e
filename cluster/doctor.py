"""``robofleet doctor``: check a deployment and say what to fix, one line per problem.

It resolves the deployment the way the other commands do (``--config``, ``ROBOFLEET_*``,
``--data-dir``, ``--url``, ``--address``), then checks, in order: the store and Redis
(reached from here), Tesseract and the languages ``ROBOFLEET_OCR_LANGUAGES`` needs, free
space for the data and backups dirs, the gateway's ``/readyz`` document (orchestrator,
store, cache, Redis, each module, each mailbox as the gateway sees them), and through a
tiny task on every Ray node the clock skew between nodes and the versions each runs.
Exit code 0 when healthy, 1 when something needs fixing.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster import up_record
from cluster.client import GatewayClient, GatewayRequestFailed
from cluster.doctor_checks import (
    Report,
    check_disk,
    check_notify,
    check_redis,
    check_store,
    check_tesseract,
    local_versions,
)
from cluster.terminal import show
from runtime.config import Settings

if TYPE_CHECKING:
    from actors.ray.node_clock import NodeClock

__all__ = [
    "add_doctor_parser",
    "check_cluster",
    "check_gateway",
    "cmd_doctor",
    "judge_clocks",
    "print_report",
]

MAX_CLOCK_SKEW_S = 1.0
"""Default largest difference between two nodes' clocks that is not a problem."""


def check_gateway(client: GatewayClient, report: Report, redis_answered: bool) -> None:
    """Read the gateway's ``/readyz`` document and turn each part that is not ok into a
    problem; Redis only when doctor itself reached it (else that problem is reported)."""
    try:
        status, document = client.readiness()
    except GatewayRequestFailed as exc:
        report.problem(
            "gateway",
            exc.message if exc.status == 0 else f"the gateway at {client.url} answered {exc}",
            "start robofleet (`robofleet up`), or point doctor at its gateway (--url or "
            "ROBOFLEET_URL)",
        )
        return
    details: dict[str, Any] = document.get("details") or {}
    checks: dict[str, str] = document.get("checks") or {}
    if status == 200:
        report.ok("gateway", f"{client.url} is ready")
    if checks.get("orchestrator") != "ok":
        report.problem(
            "orchestrator",
            f"the gateway at {client.url} cannot reach the orchestrator",
            "read robofleet up's output and the Ray logs (below); `robofleet up --recover` "
            "restarts a deployment whose `up` crashed",
        )
    if checks.get("store") != "ok":
        report.problem(
            "store",
            f"the gateway at {client.url} cannot reach the store",
            "bring the database back (PostgreSQL server, or the SQLite data dir's disk); "
            "the gateway answers 503 until then and writes waiting outcomes once it is back",
        )
    _check_modules(details.get("modules") or [], report, checks.get("orchestrator") == "ok")
    _check_cache_and_redis(details, report, redis_answered)
    _check_mailboxes(details.get("mailboxes") or [], report)
    check_notify(details.get("notify") or {}, report)


def _check_modules(modules: list[dict[str, Any]], report: Report, listed: bool) -> None:
    if not listed:
        return
    fine = []
    for module in modules:
        name, status = module["name"], module["status"]
        alive, replicas = module["replicas_alive"], module["replicas"]
        if status == "ok":
            fine.append(name)
        elif module.get("unplaceable"):
            report.problem(
                "modules",
                f"module {name} cannot be placed: {module['unplaceable']}",
                "give the cluster the resources its replicas ask for (`robofleet join` a node) "
                "or lower them in the module's config",
            )
        elif alive < replicas or status == "down":
            report.problem(
                "modules",
                f"module {name} has {alive} of {replicas} replicas alive "
                f"(health {module['health']})",
                "supervision replaces lost replicas by itself; if this stays, read the replicas' "
                "logs (Ray logs, below) and `robofleet modules`",
            )
        if module["breaker"] != "closed":
            report.problem(
                "modules",
                f"module {name}: circuit breaker {module['breaker']}, its robots keep failing",
                "read their errors (`robofleet status --status failed`) and the module's log; "
                "the breaker closes by itself after a successful trial robot",
            )
    if fine:
        report.ok("modules", f"{len(fine)} ok: {', '.join(fine)}")


def _check_cache_and_redis(details: dict[str, Any], report: Report, redis_answered: bool) -> None:
    cache = details.get("cache") or {}
    if cache.get("status") == "unavailable":
        report.problem(
            "cache",
            "the cache actor does not answer the gateway",
            "nothing is lost (reads go to the store); it restarts by itself, if it stays down "
            "read the Ray logs (below)",
        )
    if not redis_answered:
        return  # the Redis problem is reported already, from here
    if (details.get("redis") or {}).get("status") == "down":
        report.problem(
            "redis",
            "the gateway cannot reach Redis (its rate limits are local to it)",
            "check that Redis is reachable from the gateway's machine at the "
            "deployment's ROBOFLEET_REDIS_URL",
        )
    if cache.get("redis_tier") == "down":
        report.problem(
            "redis",
            "the cache actor cannot reach Redis (it serves from its memory)",
            "check that Redis is reachable from the head node at the deployment's "
            "ROBOFLEET_REDIS_URL",
        )


def _check_mailboxes(mailboxes: list[dict[str, Any]], report: Report) -> None:
    quiet = []
    for mailbox in mailboxes:
        if mailbox["status"] in ("ok", "connecting", "paused"):
            quiet.append(mailbox["name"])
            continue
        detail = f" ({mailbox['detail']})" if mailbox.get("detail") else ""
        report.problem(
            "mailboxes",
            f"mailbox {mailbox['name']} is {mailbox['status']}{detail}",
            "check the IMAP server and this mailbox's credentials; mails there wait meanwhile",
        )
    if not mailboxes:
        report.ok("mailboxes", "none configured")
    elif quiet:
        report.ok("mailboxes", f"{len(quiet)} ok: {', '.join(quiet)}")


def ray_address(settings: Settings) -> str:
    """The Ray cluster of the deployment: ``--address`` or ``ROBOFLEET_RAY_ADDRESS``, else the
    head the data dir's ``robofleet up`` recorded, else the head ``up`` would start."""
    from cluster import deploy

    if settings.ray_address:
        return settings.ray_address
    record = up_record.read(settings.data_dir.expanduser())
    if record is not None and record.head is not None:
        return record.head.address
    return deploy.head_address(settings)


def check_cluster(settings: Settings, report: Report, max_skew_s: float) -> None:
    """Connect to the Ray cluster and run the clock task on every node: skew between the
    nodes' clocks over ``max_skew_s`` is a problem, and so are nodes on other versions."""
    import ray

    from actors.ray.node_clock import read_node_clocks
    from cluster import deploy
    from cluster.bringup_cli import _check_listening

    address = ray_address(settings)
    try:
        _check_listening(address)  # ray.init would retry an absent head for minutes
        deploy.connect(address, settings.namespace)
    except Exception as exc:
        report.problem(
            "ray",
            f"no Ray cluster answers at {address} ({type(exc).__name__})",
            "start robofleet (`robofleet up`), or give its cluster (--address or "
            "ROBOFLEET_RAY_ADDRESS)",
        )
        return
    try:
        clocks = read_node_clocks()
    except Exception as exc:
        report.problem(
            "clock",
            f"a node did not run the clock task ({type(exc).__name__})",
            "see `robofleet status --nodes` and `ray status`; a node that cannot run tasks "
            "cannot run replicas either",
        )
        return
    finally:
        ray.shutdown()
    judge_clocks(clocks, report, max_skew_s)


def judge_clocks(clocks: list[NodeClock], report: Report, max_skew_s: float) -> None:
    """Problems from the nodes' clock readings: clocks further apart than ``max_skew_s``
    beyond the measurement's error, and nodes on different Python, Ray or robofleet."""
    for what in ("python", "ray", "robofleet"):
        seen = {getattr(c.facts, what) for c in clocks}
        if len(seen) > 1:
            each = ", ".join(f"{c.address} {getattr(c.facts, what)}" for c in clocks)
            report.problem(
                "versions",
                f"the nodes run different {what} versions: {each}",
                f"install the same {what} version on every node",
            )
    if not clocks:
        report.problem(
            "clock", "the Ray cluster has no alive node", "see `ray status` on the head node"
        )
        return
    skews = sorted(clocks, key=lambda c: c.skew_s)
    spread = skews[-1].skew_s - skews[0].skew_s
    error = max(c.uncertainty_s for c in clocks) * 2
    offset = sum(c.skew_s for c in clocks) / len(clocks)
    if spread - error > max_skew_s:
        report.problem(
            "clock",
            f"the clocks of nodes {skews[0].address} and {skews[-1].address} differ by "
            f"{spread:.1f} s (+-{error:.3f} s; at most {max_skew_s:g} s is fine)",
            "run NTP on every node (chrony or systemd-timesyncd); deadlines, key expiry and "
            "schedules read each node's clock",
        )
        return
    report.ok(
        "clock",
        f"{len(clocks)} node{'s' if len(clocks) != 1 else ''}, clocks within {spread:.3f} s "
        f"of each other (+-{error:.3f} s); this machine's is {-offset:+.3f} s off theirs",
    )


def _log_places(settings: Settings) -> list[str]:
    data_dir = settings.data_dir.expanduser()
    places = ["robofleet up: its own output (the terminal, or where its service manager sends it)"]
    record = up_record.read(data_dir)
    if record is not None and record.head is not None:
        places.append(f"Ray head: {data_dir / 'ray-head.log'}")
        places.append(
            "actors (gateway, orchestrator, replicas): "
            f"{Path(record.head.temp_dir) / 'session_latest' / 'logs'} (worker-*.out/.err)"
        )
    return places


def print_report(report: Report, logs: list[str], out: Callable[[str], None] = show) -> None:
    """Print each check's line, the versions, where the logs are, and then either
    ``healthy`` or one line per problem with what to do."""
    width = max((len(f.check) for f in report.findings), default=0)
    for finding in report.findings:
        out(f"{'ok' if finding.ok else 'FAIL':<5} {finding.check:<{width}}  {finding.message}")
    if report.versions:
        out("versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    for place in logs:
        out(f"logs: {place}")
    problems = report.problems
    if not problems:
        out("healthy: every check passed")
        return
    out(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}, and what to do:")
    for problem in problems:
        out(f"- {problem.check}: {problem.message}. Fix: {problem.fix}")


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the deployment; print what was found; 0 when healthy, 1 with problems."""
    from cluster.bringup_cli import cluster_settings

    settings = cluster_settings(args)
    url = args.url or os.environ.get("ROBOFLEET_URL") or settings.gateway_url()
    config = settings.config_file or getattr(args, "config", None) or "environment only"
    print(f"robofleet doctor: config {config}, data dir {settings.data_dir.expanduser()}")
    report = Report()
    local_versions(report)
    check_store(settings, report)
    redis_answered = check_redis(settings, report)
    check_tesseract(settings, report)
    check_disk("data dir", settings.data_dir.expanduser(), report)
    check_disk("backups dir", settings.backups_dir(), report)
    check_gateway(GatewayClient(url, timeout_s=10.0), report, redis_answered)
    if not args.no_ray:
        check_cluster(settings, report, args.max_clock_skew)
    print_report(report, _log_places(settings))
    return 1 if report.problems else 0


def add_doctor_parser(sub: Any) -> None:
    """Add ``doctor`` to the ``robofleet`` subcommands ``sub``."""
    doctor = sub.add_parser(
        "doctor", help="check a deployment and say what to fix (exit 1 on problems)"
    )
    doctor.add_argument("--config", help="the deployment's TOML config file")
    doctor.add_argument("--data-dir", help="the deployment's data dir (default ~/.robofleet)")
    doctor.add_argument("--url", help="its gateway (default: ROBOFLEET_URL, else from settings)")
    doctor.add_argument("--address", help="its Ray cluster (default: what its `up` recorded)")
    doctor.add_argument(
        "--max-clock-skew",
        type=float,
        default=MAX_CLOCK_SKEW_S,
        metavar="S",
        help=f"largest clock difference between nodes that is fine (default {MAX_CLOCK_SKEW_S})",
    )
    doctor.add_argument(
        "--no-ray", action="store_true", help="skip the Ray checks (clock skew, node versions)"
    )
    doctor.set_defaults(func=cmd_doctor)
