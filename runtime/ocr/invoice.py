"""Invoice fields from OCR text: number, date, vendor, total and currency, each with a confidence.

Plain rules, no model: find the labelled line ("Invoice No", "Date", "Total"...), read the value
next to its label, undo the usual OCR confusions inside numbers (O for 0, l or I for 1) and
normalise it (ISO dates, amounts as ``1234.56``). A value found under its label gets a high
confidence; a guess without a label a low one; both are scaled by the page's OCR confidence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, Field

from runtime.ocr.normalize import (
    amounts_in,
    currency_in,
    fix_digits,
    fix_line_digits,
    parse_dates,
)

FIELDS = ("invoice_number", "date", "vendor", "total", "currency")


class FieldValue(BaseModel):
    """One extracted field: its normalised value (None if not found) and a 0..1 confidence."""

    value: str | None = None
    confidence: float = 0.0
    source: str | None = Field(None, description="The text line the value was read from.")


class InvoiceFields(BaseModel):
    """The fields of one invoice."""

    invoice_number: FieldValue = Field(default_factory=FieldValue)
    date: FieldValue = Field(default_factory=FieldValue)
    vendor: FieldValue = Field(default_factory=FieldValue)
    total: FieldValue = Field(default_factory=FieldValue)
    currency: FieldValue = Field(default_factory=FieldValue)

    def values(self) -> dict[str, str | None]:
        """Return just the values, by field name."""
        return {name: getattr(self, name).value for name in FIELDS}


# --------------------------------------------------------------------------- labels

_NUMBER_LABEL = re.compile(
    # OCR drops or mangles the capital I of a serif "Invoice" and adds stray quotes.
    r"(?:[il1|!]?nvoice|[il1|!]nv|bill|rechnung|factura|facture)[\s.,\-‘’'`\"]*"
    r"(?:n[o0]\.?|nr\.?|number|num\.?|#|id|ref\.?)?[\s:;#.,‘’'`\"]*"
    r"(?P<value>[A-Z0-9][A-Z0-9\-/.]*[A-Z0-9])",
    re.I,
)
_DATE_LABEL = re.compile(r"(invoice|issue|bill(?:ing)?|document)?\s*date|dated|date of issue", re.I)
_DUE = re.compile(r"due|payable|deliver|order|ship|period", re.I)
_TOTAL_LABELS = (
    (
        re.compile(
            r"grand\W*total|total\W*(?:amount\W*)?due|amount\W*due|balance\W*due|"
            r"total\W*payable|amount\W*payable|invoice\W*total",
            re.I,
        ),
        1.0,
    ),
    (re.compile(r"(?<!sub)(?<!sub )total(?!\s*(?:vat|tax|excl|net|before))", re.I), 0.9),
)
_SUBTOTAL = re.compile(r"sub\s*-?\s*total|net\s*amount", re.I)
_TAX = re.compile(r"\b(?:vat|tax|gst|mwst|iva)\b", re.I)
_VENDOR_LABEL = re.compile(r"^(?:from|vendor|seller|supplier|issued by)\s*:\s*(?P<value>.+)$", re.I)
_COMPANY = re.compile(
    r"\b(?:gmbh|ltd|limited|inc|llc|l\.l\.c|ag|b\.?v|n\.?v|s\.?l|s\.?a|s\.?r\.?l|sarl|plc|corp|"
    r"corporation|co|company|pty|kg)\b\.?",
    re.I,
)
_NOT_VENDOR = re.compile(
    r"invoice|rechnung|factura|facture|bill\s*to|ship\s*to|phone|tel\b|fax|e-?mail|www\.|http|"
    r"\bdate\b|page\s*\d|street|road|avenue|\bst\.|^\W*\d",
    re.I,
)


def _clean_lines(lines: Iterable[str]) -> list[str]:
    cleaned = []
    for line in lines:
        line = re.sub(r"\s+", " ", line).strip()
        if line:
            cleaned.append(line)
    return cleaned


def _find_number(lines: list[str]) -> FieldValue:
    for line in lines:
        for match in _NUMBER_LABEL.finditer(line):
            value = fix_digits(match.group("value")).strip(".-/")
            if any(ch.isdigit() for ch in value) and not parse_dates(value):
                return FieldValue(value=value, confidence=0.95, source=line)
    for line in lines:  # unlabelled: something shaped like an invoice id
        found = re.search(r"\b(INV[-/]?[A-Z0-9][A-Z0-9\-/]*\d)\b", fix_digits(line), re.I)
        if found:
            return FieldValue(value=found.group(1), confidence=0.5, source=line)
    return FieldValue()


def _find_date(lines: list[str], month_first: bool) -> FieldValue:
    best: tuple[float, dt.date, str] | None = None
    for position, line in enumerate(lines):
        fixed = fix_line_digits(line)
        dates = parse_dates(fixed, month_first)
        if not dates:
            continue
        date, sure = dates[0]
        label = _DATE_LABEL.search(line)
        if label and not _DUE.search(line[: label.end()]):
            score = 0.95 * sure
        elif _DUE.search(line):
            score = 0.3 * sure
        else:
            score = 0.6 * sure - position * 0.001  # earlier unlabelled dates first
        if best is None or score > best[0]:
            best = (score, date, line)
    if best is None:
        return FieldValue()
    return FieldValue(
        value=best[1].isoformat(), confidence=round(max(best[0], 0.1), 3), source=best[2]
    )


def _find_vendor(lines: list[str]) -> FieldValue:
    for line in lines[:15]:
        match = _VENDOR_LABEL.match(line)
        if match:
            return FieldValue(value=_tidy_name(match.group("value")), confidence=0.95, source=line)
    top: list[str] = []
    for line in lines:
        if re.search(r"bill\s*to|ship\s*to|invoice\s*(?:no|number|#|date)", line, re.I):
            break
        top.append(line)
    top = top[:8]
    candidates = [
        line for line in top if not _NOT_VENDOR.search(line) and sum(c.isalpha() for c in line) >= 3
    ]
    for line in candidates:
        if _COMPANY.search(line):
            return FieldValue(value=_tidy_name(line), confidence=0.9, source=line)
    if candidates:
        return FieldValue(value=_tidy_name(candidates[0]), confidence=0.6, source=candidates[0])
    return FieldValue()


def _tidy_name(name: str) -> str:
    # OCR often adds a stray mark at either end of a bold heading ("-Acme Ltd|").
    name = re.sub(r"^[\W_]+", "", name)
    name = re.sub(r"[^\w.)&]+$", "", name)
    return re.sub(r"\s+", " ", name)


def _find_total(lines: list[str]) -> tuple[FieldValue, str | None]:
    best: tuple[float, int, Decimal, str] | None = None
    for position, line in enumerate(lines):
        if _SUBTOTAL.search(line):
            continue
        for pattern, weight in _TOTAL_LABELS:
            label = pattern.search(line)
            if not label:
                continue
            amounts = amounts_in(fix_line_digits(line[label.end() :]))
            if amounts:
                candidate = (weight, position, amounts[-1], line)
                # The strongest label wins; among equals, the last one (totals end a page).
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
            break
    subtotal = _labelled_amount(lines, _SUBTOTAL)
    tax = _labelled_amount(lines, _TAX)
    if best is None:
        return _unlabelled_total(lines, subtotal, tax)
    weight, _, amount, line = best
    confidence = 0.95 * weight
    if subtotal is not None:
        if subtotal + (tax or Decimal(0)) == amount or subtotal == amount:
            confidence = 0.99  # the arithmetic checks out
        else:
            confidence *= 0.8
    return FieldValue(value=f"{amount:.2f}", confidence=round(confidence, 3), source=line), line


def _unlabelled_total(
    lines: list[str], subtotal: Decimal | None, tax: Decimal | None
) -> tuple[FieldValue, str | None]:
    """Without a readable "Total" label, take the amount that is subtotal plus tax."""
    if subtotal is None:
        return FieldValue(), None
    expected = subtotal + (tax or Decimal(0))
    for line in lines:
        if _SUBTOTAL.search(line) or _TAX.search(line):
            continue
        if expected in amounts_in(fix_line_digits(line)):
            return FieldValue(value=f"{expected:.2f}", confidence=0.7, source=line), line
    return FieldValue(), None


def _labelled_amount(lines: list[str], label: re.Pattern[str]) -> Decimal | None:
    for line in lines:
        match = label.search(line)
        if match and not re.search(r"grand|due", line, re.I):
            # Skip the rate in "VAT 20%:" so the amount after it is taken.
            tail = re.sub(r"\d+(?:[.,]\d+)?\s*%", "", line[match.end() :])
            amounts = amounts_in(fix_line_digits(tail))
            if amounts:
                return amounts[-1]
    return None


def _find_currency(lines: list[str], total_line: str | None) -> FieldValue:
    if total_line is not None:
        found = currency_in(total_line, fuzzy=True)
        if found:
            return FieldValue(
                value=found[0], confidence=round(0.95 * found[1], 3), source=total_line
            )
    votes: dict[str, int] = {}
    first_line: dict[str, str] = {}
    for line in lines:
        found = currency_in(line)
        if found:
            votes[found[0]] = votes.get(found[0], 0) + 1
            first_line.setdefault(found[0], line)
    if not votes:
        return FieldValue()
    currency = max(votes, key=lambda code: votes[code])
    return FieldValue(value=currency, confidence=0.6, source=first_line[currency])


def extract_invoice(text: str | Iterable[str], ocr_confidence: float = 100.0) -> InvoiceFields:
    """Extract invoice fields from OCR text (a string or its lines).

    ``ocr_confidence`` (0..100, the page's mean word confidence) scales every field's
    confidence, so fields read from a poor scan say so.
    """
    lines = _clean_lines(text.splitlines() if isinstance(text, str) else text)
    total, total_line = _find_total(lines)
    currency = _find_currency(lines, total_line)
    # Numeric dates like 04/05/2024 are month-first on US invoices.
    month_first = currency.value == "USD"
    fields = InvoiceFields(
        invoice_number=_find_number(lines),
        date=_find_date(lines, month_first),
        vendor=_find_vendor(lines),
        total=total,
        currency=currency,
    )
    scale = max(0.0, min(1.0, ocr_confidence / 100.0))
    for name in FIELDS:
        field = getattr(fields, name)
        field.confidence = round(field.confidence * scale, 3)
    return fields
