"""Unit-tier guards: unit tests never start Ray and never open a network connection."""

from __future__ import annotations

import socket

import pytest
import ray


class ForbiddenInUnitTests(RuntimeError):
    """Raised when a unit test reaches for Ray or the network."""


def _forbid(what: str):
    def refuse(*args, **kwargs):
        raise ForbiddenInUnitTests(f"unit tests must not {what}; move this to tests/integration")

    return refuse


@pytest.fixture(autouse=True)
def _no_ray_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "init", _forbid("call ray.init"))
    monkeypatch.setattr(socket.socket, "connect", _forbid("open a socket connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", _forbid("open a socket connection"))
    monkeypatch.setattr(socket, "create_connection", _forbid("open a socket connection"))
