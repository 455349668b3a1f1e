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
from jmespath.functions import Functions

__all__ = ["check_expressions", "evaluate", "holds", "mapped_payload"]


_FUNCTIONS: dict[str, Any] = Functions().FUNCTION_TABLE


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def _check_calls(node: dict[str, Any]) -> None:
    """Raise ``JMESPathError`` for a call of an unknown function or with a wrong count of
    arguments (JMESPath itself finds these only when it evaluates)."""
    if node.get("type") == "function_expression":
        name, count = node["value"], len(node["children"])
        spec = _FUNCTIONS.get(name)
        if spec is None:
            raise JMESPathError(f"unknown function {name}()")
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if count < len(signature) if variadic else count != len(signature):
            expected = f"{'at least ' if variadic else ''}{len(signature)}"
            raise JMESPathError(f"{name}() takes {expected} arguments, {count} given")
    for child in node.get("children", []):
        if isinstance(child, dict):
            _check_calls(child)


def check_expressions(expressions: dict[str, str]) -> None:
    """Compile expressions (by the name to report) and check their function calls;
    ValueError naming a bad one."""
    for name, expression in expressions.items():
        try:
            _check_calls(_compiled(expression).parsed)
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
