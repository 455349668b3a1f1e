"""The currency of the country a document comes from, for pages that print no currency sign.

Evidence, from ``labels/currencies.json`` and the page's text:

- tax ids whose check digits ``python-stdnum`` accepts: EU VAT numbers with their country
  prefix ("NL004421957B08", "DE 814689550"), Spanish NIF/CIF, Brazilian CNPJ: two votes each;
- the country's marks: tax-id names used in one country ("CNPJ", "P.IVA", "NIPC",
  "Ust-IdNr"), legal forms ("SDN BHD"), the country's name: one vote each; a mark of several
  words matches with its spaces lost ("SDNBHD");
- ``country_patterns``: tax ids printed without a label (an Argentine CUIT 30-65485516-8):
  two votes.

A country's currency is Babel's (CLDR's) legal tender for that territory today.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Sequence

from babel.numbers import get_territory_currencies
from stdnum.br import cnpj
from stdnum.es import nif
from stdnum.eu import vat

from runtime.ocr.vocabulary import currencies, fold

# A VAT number: an EU country prefix, then 8 to 12 digits and letters, spaced or dotted.
_VAT = re.compile(
    r"\b(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|"
    r"RO|SE|SI|SK)[\s.-]?[0-9A-Z][0-9A-Z .-]{7,14}\b"
)


# National tax ids whose printed shape and check digits name their country: a Spanish NIF/CIF
# that starts with a letter ("B-56.390.065", "B90440116"), a Brazilian CNPJ
# ("13.554.204/0001-16").
_NATIONAL = (
    (re.compile(r"(?<![A-Z0-9])[A-HJ-NP-SUVW][-.]?\d{2}\.?\d{3}\.?\d{3}(?![0-9])"), nif, "ES"),
    (re.compile(r"(?<!\d)\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)"), cnpj, "BR"),
)


@functools.cache
def _currency_of(country: str) -> str | None:
    """The ISO 4217 code a territory (ISO 3166 alpha-2) uses today, per CLDR."""
    codes = get_territory_currencies(country, start_date=datetime.date.today())
    return codes[0] if codes else None


@functools.cache
def _marks() -> list[tuple[re.Pattern[str], str]]:
    found = []
    for country, marks in currencies().get("country_marks", {}).items():
        for mark in marks:
            key = fold(mark).strip()
            if " " in key:  # OCR glues words: "HANDELSDN BHD", "KUALALUMPUR"
                key = r"\s*".join(re.escape(word) for word in key.split())
                found.append((re.compile(key), country))
            else:
                found.append((re.compile(rf"(?<![a-z]){re.escape(key)}(?![a-z])"), country))
    return found


@functools.cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    table = currencies().get("country_patterns", {})
    return [(re.compile(pattern), country) for country, found in table.items() for pattern in found]


def _tax_id_countries(text: str) -> list[str]:
    """The countries of the valid EU VAT numbers and national tax ids in ``text`` (as read)."""
    countries = []
    for match in _VAT.finditer(text):
        compact = re.sub(r"[\s.-]", "", match.group())
        # The number may run on into the next word; try it shortened from the right.
        for end in range(len(compact), 9, -1):
            if vat.is_valid(compact[:end]):
                countries.append("GR" if compact[:2] == "EL" else compact[:2])
                break
    for pattern, module, country in _NATIONAL:
        countries.extend(country for m in pattern.finditer(text) if module.is_valid(m.group()))
    return countries


def is_tax_id(token: str) -> bool:
    """Whether ``token`` is a whole tax id whose check digits ``python-stdnum`` accepts: an EU
    VAT number with its country prefix ("FR51777888991"), a Spanish CIF ("B87760575"), a
    Brazilian CNPJ."""
    compact = re.sub(r"[\s.-]", "", token).upper()
    if _VAT.fullmatch(compact) and vat.is_valid(compact):
        return True
    return any(
        pattern.fullmatch(token) and module.is_valid(token) for pattern, module, _ in _NATIONAL
    )


def country_votes(texts: Sequence[str], folded: Sequence[str]) -> dict[str, float]:
    """Votes per ISO 4217 currency from the page's country evidence (see the module doc).

    ``texts``: the page's lines as read; ``folded``: the same lines through ``fold``.
    Returns ``{}`` when the page names no country.
    """
    votes: dict[str, float] = {}

    def vote(country: str, weight: float) -> None:
        code = _currency_of(country)
        if code is not None:
            votes[code] = votes.get(code, 0.0) + weight

    for text in texts:
        for country in _tax_id_countries(text):
            vote(country, 2.0)
    joined = " ".join(folded)
    for pattern, country in _patterns():
        if pattern.search(joined):
            vote(country, 2.0)
    for pattern, country in _marks():
        if pattern.search(joined):
            vote(country, 1.0)
    return votes


def country_currency(texts: Sequence[str], folded: Sequence[str]) -> tuple[str, float] | None:
    """The currency the page's country evidence points to and how clearly (0..1: the share of
    the votes it won, lowered when it rests on one mark). None without evidence."""
    votes = country_votes(texts, folded)
    if not votes:
        return None
    code = max(votes, key=lambda c: votes[c])
    share = votes[code] / sum(votes.values())
    return code, share * min(1.0, 0.6 + 0.2 * votes[code])
