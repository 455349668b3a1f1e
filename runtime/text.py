"""What the store can hold: text and JSON bound for it, checked in one place.

Both stores must hold the same values. PostgreSQL refuses a NUL character (U+0000) in
``text``, and neither store (nor UTF-8) can hold a lone surrogate (U+D800 to U+DFFF, which
reaches Python from undecodable bytes in a URL or header). So:

- input is checked here and refused (422 with the reason): robot fields, payload keys and
  strings, key names, query parameters, path ids, module specs (:func:`text_problem`,
  :data:`StoreText`, :func:`json_problem`, :data:`StoreJson`);
- text robofleet writes itself (robot errors and progress messages, audit fields) is
  cleaned at the store codec (:func:`clean_text`): each such character becomes U+FFFD.

JSON values (payloads, module options, results) are stored as text written by orjson and
read back by orjson and by pydantic, then written again inside larger answers (a robot
inside a list page is three levels deeper than its payload). orjson writes at most 255
levels and pydantic's parser reads at most 200, so a value may nest at most
:data:`MAX_JSON_DEPTH` levels, hold at most :data:`MAX_JSON_VALUES` values, and only finite
numbers and integers orjson can write. Every reader then round-trips it.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_UNIX_TIME",
    "STORABLE_PATTERN",
    "StoreJson",
    "StoreText",
    "clean_text",
    "json_problem",
    "storable_json",
    "storable_text",
    "text_problem",
]

MAX_JSON_DEPTH = 64
"""Deepest nesting of a stored JSON value; the value itself is level 1 (``{}`` is 1 deep)."""
MAX_JSON_VALUES = 100_000
"""Most values (containers, keys' values and scalars) in one stored JSON value."""
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
"""The integers orjson writes: signed and unsigned 64-bit."""
MAX_UNIX_TIME = 253_402_300_799.0
"""The last second of the year 9999, the latest time a robot may name."""

STORABLE_PATTERN = "^[^\\u0000]*$"
"""The JSON Schema pattern of storable text (lone surrogates cannot be sent as JSON)."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def text_problem(value: str) -> str | None:
    """Why the store cannot hold ``value`` (a phrase, e.g. "contains a NUL character"), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii() and _UNSTORABLE.search(value):
        return "contains a lone surrogate (text that is not valid UTF-8)"
    return None


def clean_text(value: str) -> str:
    """``value`` with each character the store cannot hold replaced by U+FFFD."""
    if "\x00" not in value and (value.isascii() or not _UNSTORABLE.search(value)):
        return value
    return _UNSTORABLE.sub(_REPLACEMENT, value)


def storable_text(value: str) -> str:
    """``value`` unchanged; raises ValueError saying why if the store cannot hold it.

    A pydantic ``AfterValidator``: the ValueError becomes a 422 naming the field.
    """
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value)
        return f"a string {problem}" if problem else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            return "an integer is outside the 64-bit range"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number is not finite (NaN or infinity)"
    return f"a value of type {type(value).__name__} is not JSON"


def json_problem(
    value: Any,
    max_values: int = MAX_JSON_VALUES,
    scalars: bool = True,
) -> str | None:
    """Why a parsed JSON value cannot round-trip through the store and its readers, or None.

    Checks nesting (at most :data:`MAX_JSON_DEPTH` levels, the value itself being level 1) and the
    number of values (at most ``max_values``); with ``scalars``, also every key and string
    (see :func:`text_problem`) and every number (finite; integers within 64 bits). Walks
    the value without recursion, so any depth the JSON parser accepts is safe to check.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > max_values:
            return f"it holds more than {max_values} values"
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                return f"it is nested deeper than {MAX_JSON_DEPTH} levels"
            for key, member in item.items():
                if scalars:
                    if not isinstance(key, str):
                        return "a key is not a string"
                    problem = text_problem(key)
                    if problem is not None:
                        return f"a key {problem}"
                stack.append((member, depth + 1))
        elif isinstance(item, list | tuple):
            if depth > MAX_JSON_DEPTH:
                return f"it is nested deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((member, depth + 1) for member in item)
        elif scalars:
            problem = _scalar_problem(item)
            if problem is not None:
                return problem
    return None


def storable_json(value: Any) -> Any:
    """``value`` unchanged; raises ValueError saying why if it cannot be stored and read back.

    A pydantic ``AfterValidator`` for payloads and module options (see :func:`json_problem`).
    """
    problem = json_problem(value)
    if problem is not None:
        raise ValueError(f"not storable: {problem}")
    return value


StoreText = Annotated[
    str, AfterValidator(storable_text), Field(json_schema_extra={"pattern": STORABLE_PATTERN})
]
"""A string field the store will hold: refused (422) with a NUL or a lone surrogate."""

StoreJson = Annotated[
    dict[str, Any],
    AfterValidator(storable_json),
    Field(
        description=f"A JSON object nested at most {MAX_JSON_DEPTH} levels, with at most "
        f"{MAX_JSON_VALUES} values, finite numbers and no NUL character."
    ),
]
"""A JSON object field the store will hold and every reader round-trips (422 otherwise)."""
