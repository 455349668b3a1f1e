"""Declared payload mappings and conditions: JMESPath expressions on an event document.

JMESPath (the ``jmespath`` package, maintained by AWS, used by the AWS CLI and boto3) is a
specified query language with a compliance suite: a mapping stays data, not code, and a
rule is checked when it is saved. ``map = {"x": "result.total"}`` sets the submitted
robot's ``payload.x`` to the event's ``result.total`` (``null`` when absent).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

__all__ = ["check_expressions", "evaluate", "holds", "mapped_payload"]


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def check_expressions(expressions: dict[str, str]) -> None:
    """Compile expressions (by the name to report); ValueError naming a bad one."""
    for name, expression in expressions.items():
        try:
            _compiled(expression)
        except JMESPathError as exc:
            raise ValueError(f"{name}: invalid JMESPath expression {expression!r}: {exc}") from None


def evaluate(expression: str, event: dict[str, Any]) -> Any:
    """The value of a JMESPath expression on ``event``; raises ``ValueError`` if it fails."""
    try:
        return _compiled(expression).search(event)
    except JMESPathError as exc:
        raise ValueError(f"{expression!r}: {exc}") from None


def holds(expression: str | None, event: dict[str, Any]) -> bool:
    """Whether a ``when`` expression is truthy on ``event`` (no expression: always)."""
    if expression is None:
        return True
    value = evaluate(expression, event)
    # JMESPath truthiness: false, null and empty texts, lists and objects are false; 0 is not.
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and len(value) == 0)


def mapped_payload(
    payload: dict[str, Any], mapping: dict[str, str], event: dict[str, Any]
) -> dict[str, Any]:
    """``payload`` with each key of ``mapping`` set to its expression's value on ``event``."""
    out = dict(payload)
    for key, expression in mapping.items():
        out[key] = evaluate(expression, event)
    return out
