"""Reading numbers, amounts, dates and currencies out of OCR text, OCR confusions undone."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

# --------------------------------------------------------------------------- OCR confusions

_TO_DIGIT = {"O": "0", "o": "0", "Q": "0", "D": "0", "l": "1", "I": "1", "|": "1", "i": "1"}
_TO_DIGIT_WEAK = {"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"}


def fix_digits(token: str) -> str:
    """Undo OCR letter-for-digit confusions inside the digit runs of one token.

    A confusable letter becomes a digit when digits sit on both sides of it, or when it ends
    a run whose other characters are all digits: ``2O24`` → ``2024``, ``l05`` → ``105``, but
    ``INV`` and ``SO12`` keep their letters.
    """
    chars = list(token)
    digits = sum(ch.isdigit() for ch in chars)
    mostly_digits = digits >= 2 * sum(ch.isalpha() or ch == "|" for ch in chars)
    for index, ch in enumerate(chars):
        if ch not in _TO_DIGIT:
            continue
        before = chars[index - 1] if index > 0 else ""
        after = chars[index + 1] if index + 1 < len(chars) else ""
        if before.isdigit() and after.isdigit():
            chars[index] = _TO_DIGIT[ch]
            continue
        if ch not in _TO_DIGIT_WEAK:
            continue
        run_start = index
        while run_start > 0 and chars[run_start - 1].isalnum():
            run_start -= 1
        run_end = index + 1
        while run_end < len(chars) and chars[run_end].isalnum():
            run_end += 1
        others = chars[run_start:index] + chars[index + 1 : run_end]
        at_edge = index in (run_start, run_end - 1)
        # One digit beside it is enough when the token is mostly digits ("1,200.5O").
        needed = 1 if mostly_digits else 2
        if at_edge and len(others) >= needed and all(c.isdigit() for c in others):
            chars[index] = _TO_DIGIT_WEAK[ch]
    return "".join(chars)


def fix_line_digits(line: str) -> str:
    """Apply :func:`fix_digits` to each space-separated token of a line."""
    return " ".join(fix_digits(token) for token in line.split(" "))


# --------------------------------------------------------------------------- amounts

_AMOUNT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\d])"
)


def parse_amount(text: str) -> Decimal | None:
    """Parse ``1,234.56``, ``1.234,56``, ``1 234,56``, ``1234.56`` or ``1234`` to a Decimal."""
    text = text.strip().replace(" ", "").replace("'", "")
    if not text or not re.fullmatch(r"[\d.,]+", text):
        return None
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    decimal_at = max(last_dot, last_comma)
    if decimal_at >= 0 and len(text) - decimal_at - 1 in (1, 2):
        whole, fraction = text[:decimal_at], text[decimal_at + 1 :]
    else:  # "1,234" or "1.234": a separator followed by three digits groups thousands
        whole, fraction = text, "0"
    whole = whole.replace(".", "").replace(",", "")
    try:
        return Decimal(f"{whole or 0}.{fraction}").quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def amounts_in(line: str) -> list[Decimal]:
    """Return every amount in a line, in order."""
    found = []
    for match in _AMOUNT.finditer(line):
        value = parse_amount(match.group(1))
        if value is not None:
            found.append(value)
    return found


# --------------------------------------------------------------------------- currency

_CODES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK")
_CODE = re.compile(r"(?<![A-Za-z])(" + "|".join(_CODES) + r")(?![A-Za-z])")
_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD", "¥": "JPY"}


def currency_in(line: str, fuzzy: bool = False) -> tuple[str, float] | None:
    """Return the currency a line names (ISO code or sign) and how sure that is, or None."""
    code = _CODE.search(line.upper())
    if code:
        return code.group(1), 1.0
    for symbol, currency in _SYMBOLS.items():
        if symbol in line:
            # "$" is also the sign of CAD, AUD and others.
            return currency, 0.85 if symbol == "$" else 1.0
    if fuzzy:
        # One misread letter ("CHE" for CHF) next to an amount: accept the only code it fits.
        for token in re.findall(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])", line):
            near = [c for c in _CODES if sum(a != b for a, b in zip(c, token, strict=True)) == 1]
            if len(near) == 1:
                return near[0], 0.7
    return None


# --------------------------------------------------------------------------- dates

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"  # noqa: E501
_DATE_PATTERNS = (
    ("ymd", re.compile(r"(?<!\d)(\d{4})\s?[-/.]\s?(\d{1,2})\s?[-/.]\s?(\d{1,2})(?!\d)")),
    ("num", re.compile(r"(?<!\d)(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?[-/.]\s?(\d{4}|\d{2})(?!\d)")),
    # Between the parts of a written date OCR leaves stray marks: "11 Oct’ 2023", "April 2; 2020".
    ("mdy", re.compile(_MONTH + r"[\s.]*(\d{1,2})(?:st|nd|rd|th)?[\s.,;’'`]*(\d{4})", re.I)),
    (
        "dmy",
        re.compile(
            r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s.]*" + _MONTH + r"[\s.,;’'`]*(\d{4})", re.I
        ),
    ),
)


def _date(year: int, month: int, day: int) -> dt.date | None:
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_dates(line: str, month_first: bool = False) -> list[tuple[dt.date, float]]:
    """Return the dates in a line with how sure the reading is (1.0, or less if ambiguous).

    ``month_first`` settles numeric dates like 03/04/2024 (US style) when neither part is
    over 12; a dotted date is always day first.
    """
    found: list[tuple[int, dt.date, float]] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(line):
            groups = match.groups()
            sure = 1.0
            if kind == "ymd":
                date = _date(int(groups[0]), int(groups[1]), int(groups[2]))
            elif kind == "num":
                first, separator, second, year = groups
                a, b = int(first), int(second)
                if separator == "." or a > 12:
                    day, month = a, b
                elif b > 12:
                    month, day = a, b
                else:
                    month, day = (a, b) if month_first else (b, a)
                    sure = 0.8 if a != b else 1.0
                date = _date(int(year), month, day)
            elif kind == "mdy":
                date = _date(int(groups[2]), _MONTHS[groups[0].lower()], int(groups[1]))
            else:
                date = _date(int(groups[2]), _MONTHS[groups[1].lower()], int(groups[0]))
            if date is not None:
                found.append((match.start(), date, sure))
    found.sort(key=lambda item: item[0])
    return [(date, sure) for _, date, sure in found]
