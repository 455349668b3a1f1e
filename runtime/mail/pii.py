"""PII in mail subjects and bodies, found and redacted before anything is stored or shown.

``redact(text)`` returns the text with each finding replaced by a placeholder naming its kind
(``[EMAIL]``, ``[PHONE]``, ``[IBAN]``, ``[CARD]``, ``[DNI]``, ``[NIE]``) and the set of kinds
found. A regular expression only proposes candidates; a library decides:

- phone numbers: ``phonenumbers.PhoneNumberMatcher`` (valid numbers only), in international
  format for any country and in national format for the regions given (Spain by default);
- IBANs: ``stdnum.iban`` (country format and the mod-97 check digits);
- card numbers: ``stdnum.luhn`` on 13 to 19 digits that start with a card network's prefix;
- Spanish DNI and NIE: ``stdnum.es.dni`` and ``stdnum.es.nie`` (the check letter).

Email addresses have no check digit, so for them the pattern is the test. Invoice numbers,
amounts and dates are left alone: they fail the checks above.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.es import dni as std_dni
from stdnum.es import nie as std_nie

__all__ = ["PII_KINDS", "redact"]

PII_KINDS = frozenset({"email", "phone", "iban", "card", "dni", "nie"})

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
# Two letters, two check digits, then 11 to 30 letters and digits, possibly in groups of four.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ \-]?\d){12,18}(?![\w.,/-]?\d)")
# DNI written plain (12345678Z) or with thousands dots (12.345.678-Z)
_DNI = re.compile(r"(?<![\w.,-])(?:\d{8}|\d{2}\.\d{3}\.\d{3})[ \-]?[A-Za-z](?![\w-])")
_NIE = re.compile(r"(?<![\w-])[XYZxyz][ \-]?\d{7}[ \-]?[A-Za-z](?![\w-])")
# Issuer prefixes: Visa, Mastercard, American Express, Discover, Diners, JCB, UnionPay, Maestro.
_CARD_PREFIX = re.compile(
    r"^(?:4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|6011|65|64[4-9]"
    r"|30[0-5]|36|38|35(?:2[89]|[3-8]\d)|62|5[06-8]|6[37])"
)
_DEFAULT_REGIONS = ("ES",)
# A number right after one of these words is a document's number, not a phone number: an
# order or invoice number of nine digits can be a valid Spanish phone number.
# ("Mi número: 612 345 678" is a phone number: "number" alone is not enough.)
_REFERENCE_BEFORE = re.compile(
    r"(?:\b(?:invoice|factura|order|pedido|albar[aá]n|ref(?:erence|erencia)?|ticket|incidencia"
    r"|po|id)\b\.?(?:\s*(?:n[º°o]\b|num\b|number\b|n[uú]mero\b)\.?)?|#)\s*[:#]?\s*$",
    re.IGNORECASE,
)
# ... and so is one glued to a longer token (2024/612345678, A-612345678)
_TOKEN_BEFORE = re.compile(r"[\w][/\-_.]?$")


def _longest(candidate: str, valid: Callable[[str], bool]) -> str | None:
    """The longest prefix of ``candidate``, cut at a space or dash, that ``valid`` accepts.

    Numbers are written in groups; a group of whatever follows (a BIC, a quantity) may have
    been taken in. A run of digits with no separator is never cut: a prefix of a long
    reference number would pass a check digit one time in ten.
    """
    parts = re.split(r"([ \-])", candidate)
    while parts:
        text = "".join(parts)
        if valid(text):
            return text
        parts = parts[:-2] if len(parts) > 2 else []
    return None


def _valid_card(candidate: str) -> bool:
    digits = re.sub(r"[ \-]", "", candidate)
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn.is_valid(digits)


def _sub(
    pattern: re.Pattern[str],
    text: str,
    kind: str,
    check: Callable[[str], str | None],
    found: set[str],
) -> str:
    """Replace each match that ``check`` confirms (it returns the part to redact) by ``[KIND]``."""

    def replace(match: re.Match[str]) -> str:
        candidate = match.group(0)
        confirmed = check(candidate)
        if confirmed is None:
            return candidate
        found.add(kind)
        return f"[{kind.upper()}]" + candidate[len(confirmed) :]

    return pattern.sub(replace, text)


def _is_reference(text: str, start: int) -> bool:
    before = text[max(0, start - 24) : start]
    return bool(_REFERENCE_BEFORE.search(before) or _TOKEN_BEFORE.search(before))


def _redact_phones(text: str, regions: Iterable[str], found: set[str]) -> str:
    for region in regions:
        spans = [
            (m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(text, region)
            if not _is_reference(text, m.start)
        ]
        for start, end in reversed(spans):
            text = text[:start] + "[PHONE]" + text[end:]
            found.add("phone")
    return text


def redact(text: str, regions: Iterable[str] = _DEFAULT_REGIONS) -> tuple[str, frozenset[str]]:
    """Return ``text`` with its PII replaced by ``[KIND]`` placeholders, and the kinds found.

    ``regions`` are the ISO 3166 country codes whose national phone format is recognised
    (international ``+CC`` numbers are recognised whatever the region). Kinds are among
    :data:`PII_KINDS`. Never raises on any string.
    """
    found: set[str] = set()
    text = _sub(_EMAIL, text, "email", lambda c: c, found)
    text = _sub(_IBAN, text, "iban", lambda c: _longest(c, std_iban.is_valid), found)
    text = _sub(_NIE, text, "nie", lambda c: c if std_nie.is_valid(c) else None, found)
    text = _sub(
        _DNI, text, "dni", lambda c: c if std_dni.is_valid(c.replace(".", "")) else None, found
    )
    text = _sub(_CARD, text, "card", lambda c: _longest(c, _valid_card), found)
    text = _redact_phones(text, regions, found)
    return text, frozenset(found)
