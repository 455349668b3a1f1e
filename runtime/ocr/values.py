"""Values inside a line of text: amounts, dates, currencies and document numbers, with spans.

Finding is done here (where in the line a value-shaped run of characters is); reading is done
by well-kept parsers: ``price-parser`` reads an amount (either decimal mark, thousands
separators), ``dateparser`` reads a date in the document's languages with its day/month order
and two-digit years. OCR's letter-for-digit slips are undone first (``normalize.fix_digits``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dateparser
from price_parser import Price

from runtime.ocr.normalize import fix_line_digits
from runtime.ocr.vocabulary import currencies, vocabularies

_AMOUNT = re.compile(
    # A space groups thousands only before a decimal comma ("1 234,56"): with a decimal point,
    # "9 135.00" is a quantity and an amount.
    r"(?<![\w.,/-])-?(\d{1,3}(?:[ \u202f]\d{3})+(?:,\d{1,2})?(?![.\d])"
    r"|\d{1,3}(?:[.,']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?![\d/]|[.,]\d)"
)
_AMOUNT_NO_SPACE = re.compile(
    r"(?<![\w.,/-])-?(\d{1,3}(?:[.,']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?![\d/]|[.,]\d)"
)
_SPLIT_DECIMAL = re.compile(r"(?<![\d.,])(\d{1,6})\. (\d{2})(?![\d.,%])")
_DOTTED_THOUSANDS = re.compile(r"\d[.,']\d{3}[.,]\d{2}(?!\d)")
# An amount glued to a currency sign before it ("RM33.90", "EUR10,90"): money-shaped only.
_GLUED_AMOUNT = re.compile(r"(?<=[A-Z$€£])(\d{1,3}(?:[.,]\d{3})*[.,]\d{2})(?![\d])")
_NUMERIC_DATE = re.compile(
    # Not inside a product code ("HC03-7-15"): no capital or digit may precede a date.
    # A label glued to it ("Date.28/12/2017") may precede; one separator throughout.
    r"(?<![\dA-Z,/-])(?<!\d\.)(\d{4}\s?(?P<a>[-/.])\s?\d{1,2}\s?(?P=a)\s?\d{1,2}"
    r"|\d{1,2}\s?(?P<b>[-/.])\s?\d{1,2}\s?(?P=b)\s?(?:\d{4}|\d{2}))(?:(?![\d])|(?=\d{1,2}:\d{2}))"
)
# A till's date-time stamp glued to the code before it ("QUT24/05/201309:14:47",
# "100021911/03/201806:20PM", "06/01/1812.17:26PM"): the glued time is what makes it a date,
# not a product code.
_STAMP_DATE = re.compile(
    r"(\d{1,2}(?P<s>[-/.])\d{1,2}(?P=s)(?:\d{4}|\d{2}))(?=\d{1,2}(?::\d{2}|\.\d{2}:\d{2}))"
)
# A receipt's time glued to a two-digit year: "25.04.2009:37" is 25.04.20 at 09:37.
_GLUED_TIME = re.compile(r"^(\d{1,2}\s?[-/.]\s?\d{1,2}\s?[-/.]\s?\d{2})(\d{2})$")
_WORD = r"[^\W\d_]{3,12}\.?"
_TEXT_DATE = re.compile(
    # "12 Okt. 2023", "15 de enero de 2024", and with a two-digit year "28Mar 18", "29-Nov-19"
    rf"(?<!\d)(\d{{1,2}}(?:st|nd|rd|th|er|\.|º)?[\s-]*(?:de\s+)?{_WORD}[\s,.;’'`-]*(?:de\s+)?"
    rf"(?:\d{{4}}|\d{{2}}(?![\d.,:]))"
    rf"|{_WORD}\s*\d{{1,2}}(?:st|nd|rd|th)?[\s,.;’'`]*\d{{4}})(?:(?!\d)|(?=\d{{1,2}}:\d{{2}}))",
    re.I,
)
# Makro prints "0/0(014)0007/(2021)007019": brackets inside an id, never at its ends.
_ID = re.compile(r"[A-Z0-9][A-Z0-9\-/._#]*(?:\([A-Z0-9]+\)[A-Z0-9\-/._#]*)*[A-Z0-9]|[0-9]", re.I)
_SKIP_BEFORE_ID = re.compile(
    r"^[\s:.#]*(?:\(\d{1,4}\)[\s:.]*)?(?:(?:nr|no|n°|nº|num|number|nummer|numéro|numero|#)\b\.?[\s:.#]*)?",
    re.I,
)
_MONEY_LIKE = re.compile(r"^-?\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}$")
_YEARS = (1990, dt.date.today().year + 1)


@dataclass(frozen=True)
class Found:
    """A value found in a line: the parsed value and its ``start:end`` span in the line."""

    value: Any  # Decimal, datetime.date or str, by what found it
    start: int
    end: int
    sure: float = 1.0  # 1.0, or less when the reading is ambiguous


def amounts(text: str) -> list[Found]:
    """Every amount in ``text``, left to right; ``sure`` is 1.0 for money-shaped ``12.50``.

    Raises nothing; text with no amount gives ``[]``.
    """
    fixed = fix_line_digits(text)
    # Dot leaders run into the figure ("IVA.......8,29 €"): they are spacing, not a decimal mark.
    fixed = re.sub(r"[.…]{2,}", lambda m: " " * len(m.group(0)), fixed)
    # OCR puts a space after a thermal printer's decimal point ("RM 29. 70"): close it up,
    # keeping every later offset where it was.
    fixed = _SPLIT_DECIMAL.sub(r"\1.\2 ", fixed)
    found = []
    # A space groups thousands ("1 234,56") only on a line that groups no other way: beside
    # "3.600,00", "19 684,00" is a rate and an amount.
    pattern = _AMOUNT_NO_SPACE if _DOTTED_THOUSANDS.search(fixed) else _AMOUNT
    matches = list(pattern.finditer(fixed))
    taken = [(m.start(), m.end()) for m in matches]
    for glued in _GLUED_AMOUNT.finditer(fixed):
        if not any(s < glued.end() and glued.start() < e for s, e in taken):
            matches.append(glued)
    matches.sort(key=lambda m: m.start())
    for match in matches:
        token = match.group(0)
        if sum(ch.isdigit() for ch in token) > 12:
            continue  # an id or a card number, not an amount
        price = Price.fromstring(token)
        if price.amount is None:
            continue
        value = Decimal(price.amount).quantize(Decimal("0.01"))
        if token.startswith("-"):
            value = -value  # price-parser reads the digits; a credit note's minus is ours
        money = bool(re.search(r"[.,]\d{2}$", token))
        found.append(Found(value, match.start(), match.end(), 1.0 if money else 0.6))
    return found


@functools.cache
def _languages() -> list[str]:
    return list(vocabularies())


def date_order(texts: list[str], language: str | None, currency: str | None) -> tuple[str, bool]:
    """Decide "DMY" or "MDY" for a document: its unambiguous dates first, then its language.

    A numeric date whose first part is over 12 (25/12/2024) proves day-first; one whose second
    part is over 12 proves month-first. Otherwise English documents in US dollars read
    month-first and every other language by its vocabulary's ``date_order``. Returns the
    order and whether the document's own dates proved it.
    """
    day_first = month_first = 0
    for text in texts:
        for match in _NUMERIC_DATE.finditer(fix_line_digits(text)):
            parts = re.split(r"\s?[-/.]\s?", match.group(0))
            if len(parts[0]) == 4:
                continue
            a, b = int(parts[0]), int(parts[1])
            if max(a, b) > 31:
                continue  # a phone number's digits ("04.71.48.58.27"), no date either way
            day_first += a > 12 >= b
            month_first += b > 12 >= a
    if day_first != month_first:
        return ("DMY" if day_first > month_first else "MDY"), True
    if language in (None, "en"):
        return ("MDY" if currency == "USD" else "DMY"), False
    vocabulary = vocabularies().get(language)
    return (vocabulary.date_order if vocabulary else "DMY"), False


@functools.lru_cache(maxsize=4096)
def _parse_date(text: str, order: str, language: str | None) -> dt.date | None:
    languages = (
        _languages()
        if language is None
        else [language, *(x for x in _languages() if x != language)]
    )
    settings = {
        "DATE_ORDER": order,
        "REQUIRE_PARTS": ["day", "month", "year"],
        "PREFER_DAY_OF_MONTH": "first",
    }
    try:
        parsed = dateparser.parse(text, languages=languages, settings=settings)
    except (ValueError, OverflowError):
        return None
    if parsed is None or not (_YEARS[0] <= parsed.year <= _YEARS[1]):
        return None
    return parsed.date()


def dates(
    text: str, order: str = "DMY", language: str | None = None, proven: bool = False
) -> list[Found]:
    """Every date in ``text``, left to right, read with ``order`` ("DMY" or "MDY").

    ``sure`` is 0.8 for a numeric date that reads validly both ways round (04/05/2024),
    unless ``proven`` says other dates on the document settled the order. Dotted dates
    (04.05.2024) are day-first everywhere.
    """
    fixed = fix_line_digits(text)
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_NUMERIC_DATE, _TEXT_DATE, _STAMP_DATE):
        for match in pattern.finditer(fixed):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            raw = match.group(0)
            if pattern is not _TEXT_DATE:
                raw = re.sub(r"\s+", "", raw)
                glued = _GLUED_TIME.match(raw)
                if glued and fixed[match.end() : match.end() + 1] == ":":
                    raw = glued.group(1)
            else:
                raw = re.sub(r"[’'`;]", " ", raw)  # OCR's stray marks: "11 Oct’ 2023"
            dotted = pattern is not _TEXT_DATE and "." in raw and not re.match(r"\d{4}", raw)
            date = _parse_date(raw, "DMY" if dotted else order, language)
            if date is None:
                continue
            sure = 1.0
            if pattern is not _TEXT_DATE:
                parts = re.split(r"\s?[-/.]\s?", match.group(0))
                both_ways = parts[0] != parts[1] and max(map(int, parts[:2])) <= 12
                if len(parts[0]) != 4 and both_ways and not (dotted or proven):
                    sure = 0.8
            taken.append((match.start(), match.end()))
            found.append(Found(date, match.start(), match.end(), sure))
    found.sort(key=lambda item: item.start)
    return found


@functools.cache
def _currency_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    table = currencies()
    signs: dict[str, str] = {code: code for code in table["codes"]}
    signs.update(table["symbols"])
    ordered = sorted(signs, key=len, reverse=True)
    body = "|".join(re.escape(sign) for sign in ordered)
    # Letters-only signs (EUR, RM, kr) must stand alone; symbols may touch digits.
    return re.compile(rf"(?<![A-Za-z])(?:{body})(?![A-Za-z])"), signs


def currency_signs(text: str) -> list[Found]:
    """Every currency code or symbol in ``text`` as an ISO 4217 code; ``sure`` < 1 for "$"."""
    pattern, signs = _currency_pattern()
    ambiguous = currencies().get("ambiguous", {})
    found = []
    for match in pattern.finditer(text):
        sign = match.group(0)
        code = signs[sign]
        # A sign of letters that is not an ISO code in capitals ("kr", "Rs") must touch an amount.
        if sign.isalpha() and not sign.isupper():
            near = text[max(0, match.start() - 2) : match.end() + 2]
            if not re.search(r"\d", near):
                continue
        sure = 0.7 if sign in ambiguous else 1.0
        found.append(Found(code, match.start(), match.end(), sure))
    return found


def currency_near_miss(text: str) -> str | None:
    """The one ISO code a three-capital token is a single OCR slip away from ("CHE" -> CHF).

    None when no token is, or when a token is one slip from two codes.
    """
    codes: list[str] = currencies()["codes"]
    for token in re.findall(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])", text):
        near = [c for c in codes if sum(a != b for a, b in zip(c, token, strict=True)) == 1]
        if len(near) == 1:
            return near[0]
    return None


def document_number(text: str) -> Found | None:
    """The first token in ``text`` shaped like a document number, or None.

    A number has a digit; a date or a money-shaped amount (``24.99``) is not one. A leading
    number word ("Nr.", "No:", "#") and a code in brackets ("(380)") are skipped.
    """
    text = _SKIP_BEFORE_ID.sub(lambda m: " " * len(m.group(0)), text)
    # A document-type code in brackets ("Rechnung des Versicherers (575) Nr. ...") is no number.
    text = re.sub(r"(?<![\w/])\(\d{1,4}\)(?![\w/])", lambda m: " " * len(m.group(0)), text)
    for match in _ID.finditer(text):
        token = match.group(0).strip("._#/-")
        if not any(ch.isdigit() for ch in token) or len(token) > 40:
            continue
        if _MONEY_LIKE.match(token) or dates(token):
            return None
        start = match.start() + match.group(0).find(token)
        end = start + len(token)
        # A series and a number apart: "25 - 5469", "00003-00001475" -> joined with "-".
        more = re.match(r"\s*[-/]\s*([A-Z0-9][A-Z0-9.]*\d)(?![.,]?\d)", text[end:], re.I)
        if more and " " in more.group(0) and not _MONEY_LIKE.match(more.group(1)):
            return Found(f"{token}-{more.group(1)}", start, end + more.end())
        return Found(token, start, end)
    return None
