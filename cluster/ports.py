"""The ports a bring-up command is about to use, checked before it creates anything.

A Ray head, its dashboard and a gateway each need a port of their own that nothing holds
now and that no Ray worker will take later: Ray's workers bind ports from a range of their
own (``ray start``'s ``--min-worker-port``/``--max-worker-port``, 10002-19999 by default),
so a head port inside it works until a worker happens to take it. A problem is reported as
one line naming the port and the setting that chose it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runtime.errors import ConfigError

RAY_WORKER_PORTS = range(10002, 20000)
"""Ports Ray's workers bind on: ``ray start``'s default worker port range (both ends in)."""

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class WantedPort:
    """A port a command is about to listen on: what it is for, the setting that chose it,
    and the address it binds."""

    what: str
    setting: str
    host: str
    port: int

    def name(self) -> str:
        """E.g. ``the Ray port 6380 (ROBOFLEET_RAY_PORT)``."""
        return f"{self.what} {self.port} ({self.setting})"


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now (None when it can).

    Binds and closes a socket with ``SO_REUSEADDR``, as the servers do, so a port left in
    TIME_WAIT counts as free and one with a listener counts as in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is in use"
            return f"cannot be bound on {host} ({exc.strerror or exc})"
    return None


def check_ports(
    wanted: Sequence[WantedPort],
    problem: Callable[[str, int], str | None] = bind_problem,
    worker_ports: range = RAY_WORKER_PORTS,
) -> None:
    """Raise ``ConfigError`` with one line for the first port of ``wanted`` that is out of
    range, wanted twice, inside Ray's worker port range, or refused by ``problem``
    (by default :func:`bind_problem`, which tries to bind it)."""
    seen: dict[int, WantedPort] = {}
    for port in wanted:
        if not 0 < port.port < 65536:
            raise ConfigError(f"{port.name()} is not a TCP port (1-65535)")
        if port.port in seen:
            raise ConfigError(f"{port.name()} is also {seen[port.port].name()}: choose another")
        seen[port.port] = port
        if port.port in worker_ports:
            raise ConfigError(
                f"{port.name()} is inside Ray's worker port range "
                f"{worker_ports.start}-{worker_ports.stop - 1}, where a Ray worker may take it: "
                "choose a port outside it"
            )
    for port in wanted:
        reason = problem(port.host, port.port)
        if reason is not None:
            raise ConfigError(f"{port.name()} on {port.host} {reason}: choose another port")


def free_loopback_port(avoid: range = RAY_WORKER_PORTS) -> int:
    """A port nothing listens on now on 127.0.0.1, chosen by the OS and outside ``avoid``;
    raises ``ConfigError`` if the OS offers only ports inside it."""
    for _ in range(64):
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port: int = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise ConfigError(f"the OS offers no free port outside {avoid.start}-{avoid.stop - 1}")
