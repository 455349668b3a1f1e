"""PII redaction: every kind found, checked by its library, and no invoice figure touched."""

from __future__ import annotations

import pytest

from runtime.mail.pii import PII_KINDS, redact

# Each value passes its library's check (check letters, mod 97, Luhn, numbering plans).
SAMPLES = {
    "email": ["ana.garcia@example.com", "billing+eu@sub.example.co.uk"],
    "phone": ["+34 612 345 678", "612 34 56 78", "91 123 45 67", "+44 20 7946 0958"],
    "iban": [
        "ES91 2100 0418 4502 0005 1332",
        "DE89370400440532013000",
        "es9121000418450200051332",
        "GB82 WEST 1234 5698 7654 32",
    ],
    "card": ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"],
    "dni": ["12345678Z", "87654321-X", "12.345.678-Z", "12345678z"],
    "nie": ["X1234567L", "Y7654321G", "Z-0000001-Y"],
}


@pytest.mark.parametrize(
    ("kind", "value"), [(kind, value) for kind, values in SAMPLES.items() for value in values]
)
def test_each_kind_is_redacted_and_reported(kind, value):
    text, kinds = redact(f"Contact: {value}. Thanks")
    assert kinds == {kind}
    assert value not in text
    assert text == f"Contact: [{kind.upper()}]. Thanks"


def test_a_mail_with_every_kind_is_redacted_whole():
    body = (
        "Hola, soy Ana (DNI 12345678Z, NIE de mi socio X1234567L). Escribid a "
        "ana.garcia@example.com o llamad al +34 612 345 678. Pagad la factura F2024/118 de "
        "1.234,56 € a la cuenta ES91 2100 0418 4502 0005 1332; la tarjeta 4111 1111 1111 1111 "
        "ya no sirve."
    )
    text, kinds = redact(body)
    assert kinds == PII_KINDS
    for values in SAMPLES.values():
        for value in values:
            assert value not in text
    for digits in ("12345678", "1234567", "612", "2100 0418", "1111"):
        assert digits not in text
    # what is not PII stays readable
    assert "F2024/118" in text and "1.234,56 €" in text
    assert "[DNI]" in text and "[NIE]" in text and "[EMAIL]" in text and "[PHONE]" in text
    assert "[IBAN]" in text and "[CARD]" in text


@pytest.mark.parametrize(
    "text",
    [
        "Factura F2024/118 del 12/03/2024 por 1.234,56 € (IVA 21%), vencimiento 2024-04-11.",
        "Invoice INV-2024-0153, order PO-4567890, total $12,345.67, due March 5, 2024 at 10:30.",
        "Invoice 123456789012 for 4,500.00 EUR; quote reference 20240305 with your payment.",
        "Pedido 1234567, incidencia #48213, CP 28013, CIF B12345678, albarán A-2024-000123.",
        "PO number 202403051234, 3 x 19.99 = 59.97, version 2.4.1, server 192.168.1.10",
        "Total: 15.000,00 EUR, base imponible 12.396,69, periodo 01/01/2024 - 31/12/2024",
        "Importe 12.345.678,00 € (doce millones), lote 12.345.678-B2",
        "Order 4111111111111112 is not a card (its Luhn digit is wrong), nor is 12345678A a DNI.",
        "Account ES00 2100 0418 4502 0005 1332 has a wrong check, and so has X1234567A.",
    ],
)
def test_invoice_numbers_amounts_and_dates_are_left_alone(text):
    assert redact(text) == (text, frozenset())


def test_national_phone_formats_follow_the_regions_given():
    text = "Call (415) 555-2671 please"
    assert redact(text) == (text, frozenset())
    assert redact(text, regions=("US",)) == ("Call [PHONE] please", frozenset({"phone"}))


def test_an_iban_followed_by_words_keeps_the_words():
    text, kinds = redact("IBAN ES91 2100 0418 4502 0005 1332 BIC CAIXESBBXXX")
    assert kinds == {"iban"}
    assert text == "IBAN [IBAN] BIC CAIXESBBXXX"


def test_empty_and_odd_text_never_raises():
    assert redact("") == ("", frozenset())
    odd = "@@@ +++ 0000 \x00 \u202e ES ES12 ☃ " * 50
    assert redact(odd)[0]


@pytest.mark.parametrize(
    "text",
    [
        "Factura 612345678",
        "Pedido nº 912345678 enviado",
        "Order #655123456 shipped",
        "Invoice no. 612345678",
        "número de pedido: 912345678",
        "Ref. 2024/612345678",
    ],
)
def test_a_document_number_shaped_like_a_phone_number_is_left_alone(text):
    # nine digits starting 6 or 9 are a valid Spanish phone number; the words before say not
    assert redact(text) == (text, frozenset())


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Mi número: 612345678", "Mi número: [PHONE]"),
        ("Phone number: 612 345 678", "Phone number: [PHONE]"),
        ("Llama al 0034 612 345 678", "Llama al [PHONE]"),
    ],
)
def test_a_phone_number_after_the_word_number_is_still_a_phone(text, redacted):
    assert redact(text) == (redacted, frozenset({"phone"}))


def test_a_card_followed_by_another_number_group_is_still_found():
    text, kinds = redact("card 4111 1111 1111 1111 5 items")
    assert (text, kinds) == ("card [CARD] 5 items", frozenset({"card"}))
