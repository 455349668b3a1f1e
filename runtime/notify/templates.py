"""Rendering a notification: Jinja2's sandboxed environment with Babel's locale formats.

Jinja2 3.1.6 or later (earlier releases have known sandbox escapes). The sandbox refuses
attribute access to internals (``__class__``, ``mro``, ``func_globals``, ...) and calling
unsafe callables; the robot's payload and result are data in the context, never template
source, so a payload holding ``{{ 7*7 }}`` or ``<script>`` comes out as those characters
(HTML-escaped in an HTML body). Filters, in the recipient's locale:

- ``date`` / ``datetime``: a Unix time, an ISO text or a datetime (``format`` short,
  medium, long, full or a CLDR pattern; ``tz`` an IANA zone, UTC by default);
- ``number``: a decimal number; ``currency(code)``: an amount in a currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import TemplateError, TemplateSyntaxError, Undefined, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from runtime.text import StoreText

__all__ = ["MessageTemplate", "RenderedMessage", "TemplateRefused", "check_templates", "render"]

_MAX_OUTPUT = 100_000
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


class _StrictSandbox(SandboxedEnvironment):
    """The sandbox, but an unsafe attribute is an error even when only printed (the stock
    sandbox prints it as an empty text), so the firing records why."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Raise ``SecurityError`` naming the attribute and the object's type."""
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _StrictSandbox(autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        date=_date_filter,
        datetime=_datetime_filter,
        number=_number_filter,
        currency=_currency_filter,
    )
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
    """Compile each language's parts; raises :class:`TemplateRefused` naming the language,
    the part, the line and the reason of the first that does not compile."""
    for language, template in templates.items():
        for part, source, html in _parts(template):
            try:
                _compiled(source, html)
            except TemplateSyntaxError as exc:
                raise TemplateRefused(
                    f"template {language}.{part}, line {exc.lineno}: {exc.message}"
                ) from None
            except (TemplateError, RecursionError, OverflowError, TypeError, ValueError) as exc:
                raise TemplateRefused(
                    f"template {language}.{part}: {type(exc).__name__}: {exc}"[:500]
                ) from None


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
            text = _compiled(source, html).render(context)
        except TemplateError as exc:
            raise TemplateRefused(f"template {part}: {type(exc).__name__}: {exc}"[:500]) from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateRefused(f"template {part}: {type(exc).__name__}: {exc}"[:500]) from None
        if len(text) > _MAX_OUTPUT:
            raise TemplateRefused(f"template {part}: output longer than {_MAX_OUTPUT} characters")
        out[part] = text.strip() if part == "subject" else text
    out.setdefault("html", "")
    return out
