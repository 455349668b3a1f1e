"""Invoice field extraction on OCR-like text, noise included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from runtime.ocr.calibration import SURE
from runtime.ocr.invoice import extract_invoice
from runtime.ocr.normalize import fix_digits
from runtime.ocr.values import amounts, dates

CLEAN = """\
Granite Software S.L.
151 High Street, Porto
Phone +93 478 5257
INVOICE
Invoice Number: 4900/444
Date: October 12, 2021
Due date: November 11, 2021
Bill to:
Wide World Importers Ltd
Description Qty x Price Amount
Network cables 5 x 2,170.56 10,852.80
Subtotal: 10,852.80
VAT 21%: 2,279.09
Grand Total: 13,131.89 CHF
"""


def test_clean_invoice():
    fields = extract_invoice(CLEAN)
    assert fields.values() == {
        "invoice_number": "4900/444",
        "date": "2021-10-12",
        "vendor": "Granite Software S.L.",
        "total": "13131.89",
        "currency": "CHF",
        "tax": "2279.09",
    }
    assert fields.total.confidence >= SURE and not fields.total.unsure  # subtotal + VAT adds up
    assert fields.invoice_number.confidence >= 0.9
    assert fields.total.source == "Grand Total: 13,131.89 CHF"


NOISY = """\
_ Lakeside Foods LLC |
162 Park Street, Utrecht
INVOICE
lnvoice No; INV-2O24-0O42l
Issue date: 2l.O3.2024
Due date: 04.04.2024
Bill to:
Contoso Retail Group
Subtotal: 1.000,00
VAT 19%: 190,00
Amount. Due: 1.19O,OO €
"""


def test_ocr_noise_in_labels_and_numbers():
    fields = extract_invoice(NOISY, ocr_confidence=90)
    assert fields.values() == {
        "invoice_number": "INV-2024-00421",
        "date": "2024-03-21",
        "vendor": "Lakeside Foods LLC",
        "total": "1190.00",
        "currency": "EUR",
        "tax": "190.00",
    }
    # A poorer scan lowers the confidence of what was read from it.
    poor = extract_invoice(NOISY, ocr_confidence=50).total.confidence
    assert poor < fields.total.confidence <= extract_invoice(NOISY, 100).total.confidence


def test_us_invoice_reads_numeric_dates_month_first():
    text = "Acme Inc.\nInvoice # A-77\nDate: 04/05/2023\nTotal: $1,050.00\n"
    fields = extract_invoice(text)
    assert fields.date.value == "2023-04-05"
    assert fields.currency.value == "USD"
    assert fields.date.confidence < 0.9  # 04/05 could be either way round


def test_european_invoice_reads_numeric_dates_day_first():
    fields = extract_invoice("Acme GmbH\nInvoice No: 12\nDate: 04/05/2023\nTotal: 10,00 EUR\n")
    assert fields.date.value == "2023-05-04"
    assert fields.total.value == "10.00"


def test_due_date_is_not_the_invoice_date():
    text = "Acme Ltd\nDue date: 2024-02-01\nInvoice date: 2024-01-02\nTotal 5.00 GBP"
    assert extract_invoice(text).date.value == "2024-01-02"


def test_total_label_misread_falls_back_to_arithmetic():
    text = "Maple AG\nInvoice # 3706/728\nSubtotal: 16791.68\nVAT 7%: 1175.42\n- Fotal: £17967.10\n"
    fields = extract_invoice(text)
    assert fields.total.value == "17967.10"
    assert fields.total.unsure
    assert fields.currency.value == "GBP"


def test_misread_currency_code_on_total_line():
    fields = extract_invoice("Acme AG\nInvoice No: 5\nAmount Due: 19,033.59 CHE\n")
    assert fields.currency.value == "CHF"
    assert fields.currency.confidence < 0.9


def test_vendor_label_wins():
    text = "INVOICE\nFrom: Bluebird Printing\nBill to: Contoso Ltd\nTotal: 1.00 EUR"
    assert extract_invoice(text).vendor.value == "Bluebird Printing"


def test_nothing_found():
    fields = extract_invoice("hello\nworld")
    assert fields.values() == {
        "invoice_number": None,
        "date": None,
        "vendor": "hello",
        "total": None,
        "currency": None,
        "tax": None,
    }
    assert fields.total.confidence == 0.0


def test_accepts_lines():
    assert extract_invoice(CLEAN.splitlines()).values() == extract_invoice(CLEAN).values()


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("2O24", "2024"),
        ("l05", "105"),
        ("10O", "100"),
        ("INV", "INV"),
        ("SO12", "SO12"),
        ("1,2O0.5O", "1,200.50"),
        ("F-45564", "F-45564"),
        ("Total", "Total"),
    ],
)
def test_fix_digits(token, expected):
    assert fix_digits(token) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1234.5", "1234.50"),
        ("1,234", "1234.00"),
        ("12,345,678.90", "12345678.90"),
        ("0.99", "0.99"),
        ("abc", None),
        ("", None),
    ],
)
def test_amount_forms(text, expected):
    found = amounts(text)
    value = found[0].value if found else None
    assert (None if value is None else str(value)) == expected
    if value is not None:
        assert value == Decimal(expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Date: 2024-03-15", dt.date(2024, 3, 15)),
        ("15.03.2024", dt.date(2024, 3, 15)),
        ("15/03/2024", dt.date(2024, 3, 15)),
        ("03/15/2024", dt.date(2024, 3, 15)),
        ("March 15, 2024", dt.date(2024, 3, 15)),
        ("15 Mar 2024", dt.date(2024, 3, 15)),
        ("11 Oct’ 2023", dt.date(2023, 10, 11)),
        ("April 2; 2020", dt.date(2020, 4, 2)),
        ("15.03.24", dt.date(2024, 3, 15)),
    ],
)
def test_date_forms(line, expected):
    assert dates(line)[0].value == expected


def test_impossible_dates_are_not_read():
    assert dates("31.02.2024") == []
