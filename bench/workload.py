"""Seeded workloads: the same robots (and Celery task arguments) for every run and peer."""

from __future__ import annotations

import random
import string
from typing import Any

import orjson

_ALPHABET = string.ascii_letters + string.digits + " "


def robot_payload(rng: random.Random, n: int) -> dict[str, Any]:
    """A small no-op payload: a counter and 16-256 characters of text."""
    size = rng.randint(16, 256)
    return {"n": n, "text": "".join(rng.choices(_ALPHABET, k=size))}


def robots(seed: int, count: int, robot_type: str = "echo") -> list[dict[str, Any]]:
    """``count`` robot requests of ``robot_type`` with seeded payloads and priorities."""
    rng = random.Random(seed)
    return [
        {"type": robot_type, "payload": robot_payload(rng, i), "priority": rng.randint(0, 9)}
        for i in range(count)
    ]


def robot_bodies(seed: int, count: int, robot_type: str = "echo") -> list[bytes]:
    """The same robots as :func:`robots`, serialised once as JSON request bodies."""
    return [orjson.dumps(r) for r in robots(seed, count, robot_type)]


def task_arguments(seed: int, count: int) -> list[dict[str, Any]]:
    """The payloads of :func:`robots`, as the argument of the Celery peer's no-op task."""
    return [r["payload"] for r in robots(seed, count)]
