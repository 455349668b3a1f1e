"""The ``robofleet`` command line: up, join, down (in ``cluster.bringup_cli``), submit, status,
modules, keys, mail, schedules, rules, chaos, doctor, bench, backup (in
``cluster.backup_cli``), demo (in ``cluster.demo``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from cluster.backup_cli import add_backup_parser
from cluster.bringup_cli import add_bringup_parsers
from cluster.chaos import add_chaos_parser
from cluster.client import GatewayClient, GatewayRequestFailed, segment
from cluster.demo import add_demo_parser
from cluster.doctor import add_doctor_parser
from cluster.keys_cli import add_keys_parser, cmd_keys
from cluster.mail_cli import add_mail_parser, cmd_mail
from cluster.notify_cli import add_notify_parser
from cluster.routing_cli import render_routing
from cluster.rules_cli import add_rules_parsers
from cluster.terminal import show, show_lines
from runtime.config import Settings
from runtime.errors import RobofleetError, validation_message
from runtime.lifecycle import TERMINAL_STATUSES
from runtime.text import json_problem

SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The tree ``cluster/`` sits in; a source checkout also has ``bench/`` there."""


def _client(args: argparse.Namespace) -> GatewayClient:
    url = args.url or os.environ.get("ROBOFLEET_URL") or Settings().gateway_url()
    return GatewayClient(url, api_key=args.api_key or os.environ.get("ROBOFLEET_API_KEY"))


def _payload(raw: str) -> dict[str, Any]:
    """The JSON object of ``--payload`` (text, or ``@file``); ValueError names what is wrong."""
    try:
        data = Path(raw[1:]).read_bytes() if raw.startswith("@") else raw.encode()
        value = orjson.loads(data)
    except UnicodeEncodeError:  # bytes the shell could not decode arrive as surrogates
        raise ValueError("--payload is not valid UTF-8 text") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"--payload is not JSON: {exc.args[0]}") from None
    except OSError as exc:
        raise ValueError(f"--payload: cannot read {raw[1:]}: {exc.strerror}") from None
    if not isinstance(value, dict):
        raise ValueError("--payload must be a JSON object")
    # Deeper than the gateway reads, it cannot even be encoded to send: say so here.
    problem = json_problem(value, scalars=False)
    if problem is not None:
        raise ValueError(f"--payload: {problem}")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type); refused with the reason."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _bar(robot: dict[str, Any], width: int = 30) -> str:
    fraction = 1.0 if robot["status"] == "succeeded" else float(robot.get("progress") or 0.0)
    filled = int(fraction * width)
    message = robot.get("message") or ""
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {fraction:4.0%} {robot['status']:<9} {message[:40]:<40}"


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit one robot, optionally waiting for it with a progress bar."""
    client = _client(args)
    robot: dict[str, Any] = {"type": args.type, "payload": _payload(args.payload)}
    if args.priority is not None:
        robot["priority"] = args.priority
    answer = client.submit(robot)
    show(answer["id"] if not args.wait else f"submitted {answer['id']}", flush=True)
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        current = client.robot(answer["id"])
        if sys.stdout.isatty():
            print("\r", end="")
            show(_bar(current), end="", flush=True)
        if current["status"] in TERMINAL_STATUSES:
            print()
            show_lines(json.dumps(current, indent=2))
            return 0 if current["status"] == "succeeded" else 1
        time.sleep(0.2)
    print(file=sys.stderr)
    show(f"gave up waiting after {args.timeout:g}s", file=sys.stderr)
    return 2


def cmd_status(args: argparse.Namespace) -> int:
    """Show one robot, or the newest robots."""
    client = _client(args)
    if args.nodes:
        for node in client.request("GET", "/v1/cluster")["nodes"]:
            state = "alive" if node["alive"] else "dead"
            resources = ", ".join(
                f"{k}={v:g}"
                for k, v in sorted(node["resources"].items())
                if k not in ("memory", "object_store_memory")
            )
            show(f"{node['node_id'][:12]}  {node['address']:<15} {state:<5} {resources}")
            for gateway in node["gateways"]:
                show(f"    {gateway}")
            for replica in node["replicas"]:
                show(f"    {replica}")
        return 0
    if args.routing:
        if not args.id:
            raise ValueError("usage: robofleet status ID --routing")
        show_lines(render_routing(client.robot_routing(args.id)))
        return 0
    if args.id:
        show_lines(json.dumps(client.robot(args.id), indent=2))
        return 0
    page = client.robots(status=args.status, limit=args.limit)
    for robot in page["robots"]:
        show(f"{robot['id']}  {robot['type']:<16} {robot['status']:<9} attempt {robot['attempt']}")
    if not page["robots"]:
        show(f"no {args.status + ' ' if args.status else ''}robots")
    return 0


def cmd_modules(args: argparse.Namespace) -> int:
    """List modules with their health, breaker and replicas, or scale one."""
    client = _client(args)
    if args.action == "scale":
        if args.name is None or args.replicas is None:
            raise ValueError("usage: robofleet modules scale NAME N")
        path = f"/v1/modules/{segment(args.name)}/scale"
        info = client.request("POST", path, {"replicas": args.replicas})
        show(f"{info['name']}: {len(info['replicas'])} replicas")
        return 0
    modules = client.modules()
    if not modules:
        print("no modules")
    for module in modules:
        replicas = ", ".join(
            f"{r['name']}({r['in_flight']}/{r['slots']}{'' if r['alive'] else ' down'})"
            for r in module["replicas"]
        )
        show(
            f"{module['name']:<16} types={','.join(module['types'])} health={module['health']} "
            f"breaker={module['breaker']} queued={module['queued']} replicas: {replicas}"
        )
        scaling = module.get("autoscaling")
        if scaling:
            knobs = scaling["config"]
            show(
                f"{'':<16} autoscaling {knobs['min_replicas']}..{knobs['max_replicas']} "
                f"desired={scaling['desired']}"
            )
            for d in scaling["decisions"][-3:]:
                show(f"{'':<18} {d['from_replicas']} → {d['to_replicas']}: {d['reason']}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run ``python -m bench`` of the source tree with the arguments that follow.

    The harness ships with the source tree, not the package: without ``bench/`` beside
    ``cluster/`` this prints how to get it and returns 2. Otherwise it returns the
    harness's exit code.
    """
    if not (SOURCE_ROOT / "bench" / "__main__.py").is_file():
        print(
            f"error: the benchmarks are not here ({SOURCE_ROOT / 'bench'} is missing); they ship "
            "with robofleet's source tree: run `robofleet bench` (or `make bench`) in a clone",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SOURCE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    process = subprocess.Popen([sys.executable, "-m", "bench", *args.bench_args], env=env)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the harness got the Ctrl-C too: let it clean up and exit


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``robofleet`` command."""
    parser = argparse.ArgumentParser(prog="robofleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url", help="gateway URL (default: ROBOFLEET_URL or http://127.0.0.1:8080)"
        )
        p.add_argument("--api-key", help="API key (default: ROBOFLEET_API_KEY)")

    add_bringup_parsers(sub)

    submit = sub.add_parser("submit", help="submit a robot")
    submit.add_argument("type")
    submit.add_argument("--payload", default="{}", help="JSON object, or @file")
    submit.add_argument("--priority", type=int)
    submit.add_argument(
        "--wait", action="store_true", help="wait for the outcome, showing progress"
    )
    submit.add_argument(
        "--timeout", type=_seconds, default=600.0, help="seconds --wait waits (default 600)"
    )
    client_args(submit)
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="show a robot, or the newest robots")
    status.add_argument("id", nargs="?")
    status.add_argument("--status", help="filter the list by status")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--nodes", action="store_true", help="list nodes, gateways and replicas")
    status.add_argument(
        "--routing", action="store_true", help="why each attempt of robot ID went where it went"
    )
    client_args(status)
    status.set_defaults(func=cmd_status)

    modules = sub.add_parser("modules", help="list modules, or `modules scale NAME N`")
    modules.add_argument("action", nargs="?", choices=["scale"])
    modules.add_argument("name", nargs="?")
    modules.add_argument("replicas", nargs="?", type=int)
    client_args(modules)
    modules.set_defaults(func=cmd_modules)

    # Everything after `bench` goes to the harness's own parser (`robofleet bench --help`).
    bench = sub.add_parser(
        "bench", help="run the benchmarks (python -m bench)", add_help=False, prefix_chars="\0"
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)

    add_chaos_parser(sub, client_args)
    add_doctor_parser(sub)
    add_keys_parser(sub, client_args, lambda args: cmd_keys(args, _client(args)))
    add_rules_parsers(sub, client_args, _client)
    add_backup_parser(sub)
    add_mail_parser(sub, client_args, lambda args: cmd_mail(args, _client(args)))
    add_notify_parser(sub, client_args, _client)
    add_demo_parser(sub)
    _name_subcommands(parser)
    _carry_parent_options(parser)
    return parser


def _carry_parent_options(parser: argparse.ArgumentParser) -> None:
    """Let an option given to a command group (``mail --url X list``) reach its action.

    argparse copies a subcommand's defaults over what its parent parsed, so an option both
    levels define would be reset to the action's default: the action's copy gets no
    default instead, and the group's value stands unless the option is given again after.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in action.choices.values():
            for option in child._actions:
                if option.option_strings and option.dest in _option_dests(parser):
                    option.default = argparse.SUPPRESS
            _carry_parent_options(child)


def _option_dests(parser: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in parser._actions if a.option_strings and a.dest != "help"}


def _name_subcommands(parser: argparse.ArgumentParser) -> None:
    """Give every group of subcommands under ``parser`` its choices as metavar, so a missing
    one is reported as ``{create,list,...}`` rather than by its dest (``command_action``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if action.metavar is None:
                action.metavar = "{" + ",".join(action.choices) + "}"
            for child in action.choices.values():
                _name_subcommands(child)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robofleet`` console script.

    Ctrl-C (SIGINT) stops every command, even when the process was started with SIGINT
    ignored (a shell's background job, a service manager), which Python would keep: a
    `robofleet up` that cannot be interrupted is stopped only by killing it, which leaves its
    Ray head running.
    """
    if threading.current_thread() is threading.main_thread():  # signal() works only there
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GatewayRequestFailed as exc:
        show(f"error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:  # settings from the environment, read by the command
        print(f"error: invalid settings: {validation_message(exc, 'settings')}", file=sys.stderr)
        return 1
    except (RobofleetError, ValueError, OSError) as exc:
        show(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
