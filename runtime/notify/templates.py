"""Rendering a notification: Jinja2's sandboxed environment with Babel's locale formats.

Jinja2 3.1.6 or later (earlier releases have known sandbox escapes). The sandbox refuses
attribute access to internals (``__class__``, ``mro``, ``func_globals``, ...) and calling
unsafe callables; the robot's payload and result are data in the context, never template
source, so a payload holding ``{{ 7*7 }}`` or ``<script>`` comes out as those characters
(HTML-escaped in an HTML body). Filters, in the recipient's locale:

- ``date`` / ``datetime``: a Unix time, an ISO text or a datetime (``format`` short,
  medium, long, full or a CLDR pattern; ``tz`` an IANA zone, UTC by default);
- ``number``: a decimal number; ``currency(code)``: an amount in a currency.

Bounds: a template's own operations cannot amplify text, numbers or time, whether Jinja runs
them while compiling (constant folding) or while rendering. ``*``, ``**``, ``+`` and ``%``
are checked before they run (a number of at most 4096 bits, a text or list of at most
1,000,000 items); so are the calls and filters that pad, repeat or join (``center``,
``indent``, ``join``, ``replace``, ``format``, ...: a width of at most 100,000, a product of
lengths of at most 1,000,000), ``~`` and captured blocks; a render takes at most 1,000,000
steps (loop iterations, calls, filters, operators) and 2 seconds. Past a bound the sandbox
raises ``SecurityError`` naming it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import TemplateError, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer
from pydantic import BaseModel, ConfigDict, Field

from runtime.text import StoreText

__all__ = ["MessageTemplate", "RenderedMessage", "TemplateRefused", "check_templates", "render"]

_MAX_OUTPUT = 100_000
_MAX_TEXT = 1_000_000  # items in a text or list a template operation may make
_MAX_WIDTH = 100_000  # a width, count or indent argument
_MAX_INT_BITS = 4096
_MAX_STEPS = 1_000_000
_MAX_SECONDS = 2.0
_MAX_LOREM = 100  # paragraphs of ``lipsum``
_WIDTH_CALLS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "tojson", "batch", "slice"}
)
_PRODUCT_CALLS = frozenset({"join", "replace", "wordwrap", "indent", "expandtabs", "format"})
_FORMAT_CALLS = frozenset({"format", "format_map", "format_string"})
_Source = Annotated[StoreText, Field(max_length=20_000)]


class MessageTemplate(BaseModel):
    """One language's message: Jinja2 sources of the subject, the text and the HTML body.

    A webhook sends ``text`` rendered (a JSON document when it is one) as its body; an email
    sends ``text`` and, when given, ``html`` (autoescaped) as its two parts.
    """

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[StoreText, Field(max_length=1000)] = ""
    text: _Source = Field(min_length=1)
    html: _Source | None = None


class TemplateRefused(ValueError):
    """Raised when a template does not compile or fails to render (line and reason)."""


class RenderedMessage(dict[str, str]):
    """``{"subject", "text", "html"}`` of one recipient (``html`` may be empty)."""


def _locale(context: Context) -> Locale:
    return _parse_locale(str(context.get("locale", "en")))


@lru_cache(maxsize=64)
def _parse_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _as_datetime(value: Any, tz: str) -> datetime | None:
    zone = ZoneInfo(tz)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=zone)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return None


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).replace(",", ".")) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@pass_context
def _date_filter(context: Context, value: Any, format: str = "medium", tz: str = "UTC") -> str:
    moment = _as_datetime(value, tz)
    if moment is None:
        return "" if value is None else str(value)
    return str(format_date(moment.astimezone(ZoneInfo(tz)), format, locale=_locale(context)))


@pass_context
def _datetime_filter(context: Context, value: Any, format: str = "medium", tz: str = "UTC") -> str:
    moment = _as_datetime(value, tz)
    if moment is None:
        return "" if value is None else str(value)
    return str(format_datetime(moment, format, tzinfo=ZoneInfo(tz), locale=_locale(context)))


@pass_context
def _number_filter(context: Context, value: Any) -> str:
    number = _as_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return str(format_decimal(number, locale=_locale(context)))


@pass_context
def _currency_filter(context: Context, value: Any, code: str = "EUR") -> str:
    number = _as_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return str(format_currency(number, code, locale=_locale(context)))


class _PastBound(SecurityError):
    """Raised when a template's operation or render passes one of the bounds."""


class _Budget:
    """One render's allowance of steps and seconds."""

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + _MAX_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _PastBound(f"the template takes more than {_MAX_STEPS} steps")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise _PastBound(f"the template takes longer than {_MAX_SECONDS:g} seconds")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step()


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | range):
        return len(value)
    return 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked(what: str, value: Any) -> Any:
    """``value`` unless it is a text or list longer than the bound (``SecurityError``)."""
    if _size(value) > _MAX_TEXT:
        raise _PastBound(f"{what} makes a value longer than {_MAX_TEXT} items")
    return value


def _check_format(what: str, fmt: Any, args: Iterable[Any]) -> None:
    if not isinstance(fmt, str):
        return
    widths = [int(n) for n in re.findall(r"\d+", fmt)]
    if "*" in fmt or re.search(r"\{[^{}]*\{", fmt):  # widths taken from the arguments
        widths += [abs(a) for a in args if _is_int(a)]
    if any(w > _MAX_WIDTH for w in widths):
        raise _PastBound(f"{what}: a format width past {_MAX_WIDTH}")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
        if right * left.bit_length() > _MAX_INT_BITS:
            raise _PastBound(f"'**' makes a number of more than {_MAX_INT_BITS} bits")
    elif operator in ("*", "+") and _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1:
            raise _PastBound(f"{operator!r} makes a number of more than {_MAX_INT_BITS} bits")
    elif operator == "*":
        count, seq = (left, right) if _is_int(left) else (right, left)
        if _is_int(count) and _size(seq) * count > _MAX_TEXT:
            raise _PastBound(f"'*' makes a value longer than {_MAX_TEXT} items")
    elif operator == "+" and _size(left) + _size(right) > _MAX_TEXT:
        raise _PastBound(f"'+' makes a value longer than {_MAX_TEXT} items")
    elif operator == "%":
        _check_format("'%'", left, right if isinstance(right, tuple) else (right,))


def _check_call(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a padding, repeating or joining call whose result would pass the bounds
    (``target`` is the filtered value or the method's object)."""
    values = [*args, *kwargs.values()]
    if name in _WIDTH_CALLS:
        for value in values:
            if _is_int(value) and abs(value) > _MAX_WIDTH:
                raise _PastBound(f"{name}: {value} is past {_MAX_WIDTH}")
    if name in _PRODUCT_CALLS:
        longest = max((_size(v) for v in values), default=0)
        if _size(target) * longest > _MAX_TEXT:
            raise _PastBound(f"{name} makes a value longer than {_MAX_TEXT} items")
    if name in _FORMAT_CALLS:
        _check_format(name, target, values)


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 0 if _PassArg.from_obj(func) is None else 1  # context, eval context or environment

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _step()
        value, rest = (args[skip], args[skip + 1 :]) if len(args) > skip else (None, ())
        _check_call(name, value, rest, kwargs)
        return _checked(f"filter {name!r}", func(*args, **kwargs))

    return wrapper


@pass_context
def _counted(context: Context, iterable: Any) -> Iterator[Any]:
    """A loop's items, each a step of the render's budget."""
    for item in iterable:
        _step()
        yield item


def _bounded_concat(parts: Iterable[str]) -> str:
    parts = list(parts)
    if sum(map(len, parts)) > _MAX_TEXT:
        raise _PastBound(f"a block makes a text longer than {_MAX_TEXT} characters")
    return "".join(parts)


class _Bounding(NodeTransformer):
    """Wraps each loop's items in ``_counted`` and each ``~`` in ``_checked_text``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        node.iter = _filtered(node.iter, "_counted")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return _filtered(node, "_checked_text")


def _filtered(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, but an unsafe attribute is an error even when only printed (the stock
    sandbox prints it as an empty text), so the firing records why."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Raise ``SecurityError`` naming the attribute and the object's type."""
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_bounded_concat)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Run ``left operator right`` unless its result would pass the bounds
        (``SecurityError``); Jinja does not fold these operators while compiling."""
        _step()
        _check_binop(operator, left, right)
        return _checked(repr(operator), super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call from the template, a step of the budget; a padding, repeating or joining
        call is refused before it runs when its result would pass the bounds."""
        _step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (_counted(__context, args[0]), *args[1:])
        function = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        _check_call(getattr(function, "__name__", ""), getattr(function, "__self__", None),
                    args, kwargs)
        return _checked("a call", super().call(__context, __obj, *args, **kwargs))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then count each loop's items and bound each ``~``."""
        tree = _Bounding().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree


@pass_context
def _checked_text(context: Context, value: Any) -> Any:
    return _checked("'~'", value)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _StrictSandbox(autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        date=_date_filter,
        datetime=_datetime_filter,
        number=_number_filter,
        currency=_currency_filter,
    )
    env.filters = {name: _bounded_filter(name, f) for name, f in env.filters.items()}
    env.filters.update(_counted=_counted, _checked_text=_checked_text)
    lorem: Callable[..., Any] = env.globals["lipsum"]  # type: ignore[assignment]

    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        """Lorem ipsum paragraphs, at most 100."""
        if not (_is_int(n) and 0 <= n <= _MAX_LOREM and _is_int(max) and 0 < max <= _MAX_LOREM):
            raise _PastBound(f"lipsum: at most {_MAX_LOREM} paragraphs of {_MAX_LOREM} words")
        return str(lorem(n, html, min, max))

    env.globals["lipsum"] = lipsum
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Any:
    return (_HTML if html else _TEXT).from_string(source)


def _parts(template: MessageTemplate) -> list[tuple[str, str, bool]]:
    parts = [("subject", template.subject, False), ("text", template.text, False)]
    if template.html is not None:
        parts.append(("html", template.html, True))
    return parts


def check_templates(templates: Mapping[str, MessageTemplate]) -> None:
    """Compile each language's parts, then render each on an empty event; raises
    :class:`TemplateRefused` naming the language, the part, the line and the reason of the
    first that does not compile or passes the sandbox's bounds (other render errors, a
    sandbox violation too, wait for a real event)."""
    for language, template in templates.items():
        for part, source, html in _parts(template):
            try:
                compiled = _compiled(source, html)
            except TemplateSyntaxError as exc:
                raise TemplateRefused(
                    f"template {language}.{part}, line {exc.lineno}: {exc.message}"
                ) from None
            except (TemplateError, RecursionError, OverflowError, TypeError, ValueError) as exc:
                raise TemplateRefused(
                    f"template {language}.{part}: {type(exc).__name__}: {exc}"[:500]
                ) from None
            try:
                _bounded_render(compiled, {})
            except _PastBound as exc:
                raise TemplateRefused(
                    f"template {language}.{part}: SecurityError: {exc}"[:500]
                ) from None
            except Exception:  # noqa: BLE001, S112 - other errors need the event's data
                continue


def _bounded_render(compiled: Any, context: Mapping[str, Any]) -> str:
    token = _BUDGET.set(_Budget())
    try:
        return str(compiled.render(context))
    finally:
        _BUDGET.reset(token)


def render(template: MessageTemplate, event: Mapping[str, Any], locale: str) -> RenderedMessage:
    """Render a template for one recipient: ``event`` (the robot as it ended, plus
    ``recipient``) is the context, ``locale`` the formats' locale.

    Raises :class:`TemplateRefused` when rendering fails (a sandbox violation, a filter's
    error) or its output passes 100,000 characters.
    """
    context = {**event, "locale": locale}
    out = RenderedMessage()
    for part, source, html in _parts(template):
        try:
            text = _bounded_render(_compiled(source, html), context)
        except TemplateError as exc:
            kind = "SecurityError" if isinstance(exc, SecurityError) else type(exc).__name__
            raise TemplateRefused(f"template {part}: {kind}: {exc}"[:500]) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
            raise TemplateRefused(f"template {part}: {type(exc).__name__}: {exc}"[:500]) from None
        if len(text) > _MAX_OUTPUT:
            raise TemplateRefused(f"template {part}: output longer than {_MAX_OUTPUT} characters")
        out[part] = text.strip() if part == "subject" else text
    out.setdefault("html", "")
    return out
