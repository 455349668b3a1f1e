"""Invoice and receipt fields from a document's lines and word boxes, each with a confidence.

For each field, candidates are generated and scored, and the best is kept:

- labelled values: a label from the vocabularies (``runtime/ocr/labels/*.json``, any of the
  languages) with a value of the field's shape to its right on the same line, or below it in
  the same column (read off the word boxes; a PDF text layer gives boxes too);
- unlabelled values of the right shape, scored low;
- the vendor from the top of the first page: the issuer's name, scored on a company's legal
  form, font size, position, and not being a heading, an address or the customer's block.

Cross-checks then raise or lower scores: net + tax = total, the total being the largest amount,
a due date after the issue date, the currency next to the total. Every score (0..1) is mapped
by :mod:`runtime.ocr.calibration` to the measured chance that the value is right, so a field
with ``confidence >= SURE`` is one to act on; below it, ``unsure`` is set.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, Field

from runtime.ocr import values as read
from runtime.ocr.calibration import SURE, calibrate
from runtime.ocr.country import country_currency, is_tax_id
from runtime.ocr.layout import DocLine, page_lines, text_lines
from runtime.ocr.normalize import fix_digits
from runtime.ocr.results import PageText
from runtime.ocr.vocabulary import LabelHit, find_labels, fold, language_votes, vocabularies
from runtime.ocr.vocabulary import currencies as vocabulary_currencies

FIELDS = ("invoice_number", "date", "vendor", "total", "currency", "tax")


class FieldValue(BaseModel):
    """One extracted field: its normalised value (None if not found) and a 0..1 confidence.

    ``confidence`` is calibrated: of the fields returned with confidence c on the held-out
    documents of ``bench/fields_data``, about c were right. ``unsure`` is set below
    ``runtime.ocr.calibration.SURE`` (0.9).
    """

    value: str | None = None
    confidence: float = 0.0
    unsure: bool = True
    source: str | None = Field(None, description="The text line the value was read from.")


class InvoiceFields(BaseModel):
    """The fields of one invoice or receipt, its kind and the language it is written in."""

    kind: str = Field("invoice", description="'invoice' or 'receipt'.")
    language: str | None = Field(None, description="ISO 639-1 code the labels were read in.")
    invoice_number: FieldValue = Field(default_factory=FieldValue)
    date: FieldValue = Field(default_factory=FieldValue)
    vendor: FieldValue = Field(default_factory=FieldValue)
    total: FieldValue = Field(default_factory=FieldValue)
    currency: FieldValue = Field(default_factory=FieldValue)
    tax: FieldValue = Field(default_factory=FieldValue)

    def values(self) -> dict[str, str | None]:
        """Return just the values, by field name."""
        return {name: getattr(self, name).value for name in FIELDS}


@dataclass
class _Candidate:
    value: str
    score: float  # the evidence for the value, 0..1: what its confidence is calibrated from
    line: DocLine
    start: int = 0
    end: int = 0
    rank: float = 0.0  # added to the score only to choose among candidates


@dataclass
class _Document:
    lines: list[DocLine]
    folded: list[str]
    hits: list[list[LabelHit]]
    language: str | None
    order: str = "DMY"
    proven: bool = False

    def labels(self, index: int, kinds: Sequence[str]) -> list[LabelHit]:
        return [hit for hit in self.hits[index] if hit.kind in kinds]

    @functools.cached_property
    def money(self) -> list[list[read.Found]]:
        """The amounts of each whole line (by line index), read once for the page scans."""
        return [_money(line.text) for line in self.lines]

    @functools.cached_property
    def customers(self) -> set[str]:
        """The customers' names, as :func:`_customer_keys` gives them, read once."""
        return _customer_keys(self)

    @functools.cached_property
    def country(self) -> tuple[str, float] | None:
        """The currency the page's country evidence names, as
        :func:`~runtime.ocr.country.country_currency` gives it, read once."""
        return country_currency([line.text for line in self.lines], self.folded)

    @functools.cached_property
    def rate_rows(self) -> list[tuple[Decimal, Decimal, int]]:
        """The VAT tables' rate rows, as :func:`_rate_rows` gives them, read once."""
        return _rate_rows(self)


_NUMBER_WORDS = re.compile(
    r"(?:\bno\b|\bnr\b|\bnro\b|nummer|number|\bnum|#|\bn\s?\.?\s?o\b|\bn\.|numero|\bid\b|\bnº)"
)
_TIME = re.compile(r"\s{0,3}\d{1,2}:\d{2}")
_PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s?%")


# --------------------------------------------------------------------------- value finding


_TAX_FIGURE = re.compile(r"betrag|amount|total|summe|montant|importe|cuota|bedrag|importo|valor")
_RATE = re.compile(r"\s*@?\s*\(?\d{1,2}(?:[.,]\d{1,2})?\s?%")
# Labels that qualify a value rather than start another one: "Total RM Incl. of GST 11.80".
_MODIFIERS = frozenset({"tax_included", "company", "business", "heading", "receipt", "currency"})
_NAMED = ("company", "business")  # a legal form, or a word naming a kind of business
_DATES = ("date", "other_date")


def _after_label(
    doc: _Document,
    index: int,
    hit: LabelHit,
    reader: Callable[[str], list[read.Found]],
    pick_last: bool = False,
) -> tuple[read.Found, DocLine, int, float] | None:
    """A value of ``reader``'s shape right of a label, else below it in its column.

    Returns ``(found, line, offset, placement)``: ``offset`` turns ``found``'s span into the
    line's; ``placement`` is 1.0 on the label's line and less below it.
    """
    line = doc.lines[index]
    included = any(h.kind == "tax_included" for h in doc.hits[index])
    # The value ends at the next label on the line ("Date: 1.2.24 Due: 3.2.24").
    nxt = [
        h.start
        for h in doc.hits[index]
        if h.start >= hit.end
        and h.kind != hit.kind
        and h.kind not in _MODIFIERS
        and not _RATE.match(line.text[h.end :])  # "Total Incl. GST@6% RM 28.00"
        and not (h.kind == "tax" and included)  # "Total Sales (Inclusive GST) 141.50"
        # "Montant prélevé le 16 novembre 2019 12,99": a date right after an amount's label
        # says when; the amount follows it.
        and not (pick_last and h.kind in _DATES and not line.text[hit.end : h.start].strip(" :"))
        # A short word that is also prose ("de votre compte") ends nothing without a colon.
        and not (len(h.label) <= 3 and not line.text[h.end : h.end + 2].strip().startswith(":"))
    ]
    stop = min(nxt, default=len(line.text))
    right = line.text[hit.end : stop]
    found = reader(right)
    if found and pick_last:
        found = [f for f in found if f.sure == max(f.sure for f in found)]
    if found:
        chosen = found[-1] if pick_last else found[0]
        return chosen, line, hit.end, 1.0
    cell = next((c for c in line.cells() if c[0] <= hit.start < c[1]), None)
    if cell is not None and len(re.findall(r"[^\W\d_]{3,}", line.text[hit.end : cell[1]])) >= 4:
        return None  # a label word inside a sentence ("wire the amount due to our bank ...")
    box = line.span_x(hit.start, hit.end)
    column = _header_column(line, hit) if box is not None else None
    # A table's header row may sit a few lines above its values (notes between them), so the
    # column under the label is looked at over four lines; other readings over two.
    for step, below in enumerate(doc.lines[index + 1 : index + 5], start=1):
        if below.page != line.page:
            break
        if any(_labels_a_value(below, h, box) for h in doc.hits[below.index]):
            break  # a labelled line: its values are its own label's ("CASH RM 40.00")
        if box is None:
            if step > 1:
                break
            part: tuple[str, int, int] | None = (below.text, 0, len(below.text))
        else:
            nearest = _in_column(below, column, reader, pick_last) if column else None
            nearest = nearest or _under(below, box, reader)
            if nearest is not None and not _same_label(doc, below, hit.kind, box):
                summed = _column_sum(doc, below, column, reader) if column else None
                if summed is not None:
                    return summed[0], summed[1], summed[2], 0.85
                return nearest[0], below, nearest[1], 0.85 - 0.05 * (step - 1)
            if step > 2:
                continue
            width = box[1] - box[0]
            part = below.text_between(box[0] - width * 0.5, box[1] + width * 1.5)
        if part is None or not reader(part[0]):
            # A lone amount on an unlabelled line right under the label ("Total BASE" /
            # ".... 126,75") belongs to it even when it is aligned elsewhere.
            alone = reader(below.text)
            if step == 1 and len(alone) == 1 and not doc.hits[below.index] and pick_last:
                return alone[0], below, 0, 0.6
            continue
        text, start, _ = part
        if _same_label(doc, below, hit.kind, box):
            break  # the next label of the same kind starts: its value is its own
        found = reader(text)
        if found:
            chosen = found[-1] if pick_last else found[0]
            return chosen, below, start, (0.85 if box is not None else 0.6) - 0.1 * (step - 1)
    return None


def _same_label(doc: _Document, line: DocLine, kind: str, box: tuple[int, int] | None) -> bool:
    """Whether ``line`` has a label of ``kind`` in the column ``box`` spans (anywhere when
    boxes do not say where): "Resumen de la factura" off to the right of a number under
    "Número de factura" labels nothing in that column."""
    for hit in doc.hits[line.index]:
        if hit.kind != kind:
            continue
        where = line.span_x(hit.start, hit.end) if box is not None else None
        if where is None or box is None or (where[0] < box[1] + 50 and box[0] - 50 < where[1]):
            return True
    return False


def _labels_a_value(line: DocLine, hit: LabelHit, column: tuple[int, int] | None) -> bool:
    """Whether a label found in a line below another stands for a value of its own there: not
    a qualifier, not a short word that is also prose ("le", "de", "vom") unless a colon follows
    it, and (when boxes say where) not off in another column than the label above."""
    if hit.kind in _MODIFIERS:
        return False
    if len(hit.label) <= 3 and not line.text[hit.end : hit.end + 2].strip().startswith(":"):
        return False
    where = line.span_x(hit.start, hit.end) if column is not None else None
    if where is not None and column is not None:
        return where[0] < column[1] + 50 and column[0] - 50 < where[1]
    return True


def _header_column(line: DocLine, hit: LabelHit) -> tuple[float, float] | None:
    """The x-range a header cell heads: from its left edge to the next cell's, so numbers set
    right-aligned under left-aligned headers still fall in their column. None when the label
    is not in a header of several cells."""
    cells = line.cells()
    if len(cells) < 3:
        return None
    for number, (start, end) in enumerate(cells):
        if start <= hit.start < end:
            left = line.span_x(start, end)
            right = line.span_x(*cells[number + 1]) if number + 1 < len(cells) else None
            if left is None:
                return None
            return float(left[0]), float(right[0]) if right else float("inf")
    return None


def _in_column(
    line: DocLine,
    column: tuple[float, float],
    reader: Callable[[str], list[read.Found]],
    pick_last: bool,
) -> tuple[read.Found, int] | None:
    """The value in ``line`` whose word's centre falls in a header cell's ``column``."""
    inside = []
    for word, offset in zip(line.words, line.offsets, strict=True):
        middle = word.left + word.width / 2
        found = reader(word.text) if column[0] <= middle < column[1] else []
        if found:
            inside.append((found[-1], offset))
    if not inside:
        return None
    # Two headers read as one cell ("MwSt-Betrag MwSt-%"): the money-shaped figure is the
    # amount, "19,0" under the other header is a rate.
    sure = max(found.sure for found, _ in inside)
    inside = [(found, offset) for found, offset in inside if found.sure == sure]
    return inside[-1] if pick_last else inside[0]


def _column_sum(
    doc: _Document,
    first: DocLine,
    column: tuple[float, float],
    reader: Callable[[str], list[read.Found]],
) -> tuple[read.Found, DocLine, int] | None:
    """The sum row of a column of amounts that starts at ``first``: a later value in the
    column that equals the sum of the ones above it (a summary table's per-rate rows, then
    its totals row). None when no value below adds up the ones above."""
    above: list[Decimal] = []
    gaps = 0
    for line in doc.lines[first.index : first.index + 8]:
        if line.page != first.page:
            break
        found = _in_column(line, column, reader, True)
        if found is None:
            gaps += 1
            if gaps > 1:
                break
            continue
        value = found[0].value
        if not isinstance(value, Decimal):
            return None
        if len(above) >= 2 and value == sum(above, Decimal(0)):
            return found[0], line, found[1]
        above.append(value)
    return None


def _under(
    line: DocLine, box: tuple[int, int], reader: Callable[[str], list[read.Found]]
) -> tuple[read.Found, int] | None:
    """The value in ``line`` whose word sits closest under the label's ``box`` (a table's
    header over its row), with its word's offset; None when no word near enough holds one."""
    centre, width = (box[0] + box[1]) / 2, box[1] - box[0]
    best: tuple[float, read.Found, int] | None = None
    for word, offset in zip(line.words, line.offsets, strict=True):
        middle = word.left + word.width / 2
        distance = abs(middle - centre)
        if distance > max(width, word.width) * 0.75 + 10:
            continue
        found = reader(word.text)
        if found and (best is None or distance < best[0]):
            best = (distance, found[-1], offset)
    return None if best is None else (best[1], best[2])


def _money(text: str) -> list[read.Found]:
    """The amounts in ``text`` with its percentages ("19 %") blanked out, spans kept."""
    return read.amounts(_PERCENT.sub(lambda m: " " * len(m.group(0)), text))


# --------------------------------------------------------------------------- fields


def _number(doc: _Document) -> _Candidate | None:
    best: _Candidate | None = None
    for index in range(len(doc.lines)):
        for hit in doc.labels(index, ("invoice_number",)):
            got = _after_label(doc, index, hit, lambda t: _as_list(read.document_number(t)))
            if got is None:
                continue
            found, where, offset, placement = got
            specific = bool(_NUMBER_WORDS.search(hit.label)) or hit.label.endswith(
                ("nummer", "nr", "-nr")
            )
            weight = 1.0 if specific else 0.6
            if re.fullmatch(r"[\W_]*(?:numero|number|nummer|num|nr|no|n)[\W_]*", fold(hit.label)):
                weight = 0.75  # a bare "número" also numbers a phone line or a contract
            if re.search(r"order|bestell|commande|pedido|ordine|reference|ref\b", hit.label):
                weight = 0.55
            value = fix_digits(str(found.value))
            if is_tax_id(value):
                continue  # "Numero TVA FR51777888991": a VAT number, never the invoice's
            score = weight * placement * hit.score * _ocr(where, found, offset)
            if len(re.findall(r"[^\W\d_]{2,}", doc.lines[index].text[: hit.start])) >= 5:
                score *= 0.7  # "Bei Schriftwechsel bitte Ihre ... und Belegnummer ...": prose
            # A one- or two-digit series, then the number ("Factura  1  250231" under
            # "NÚMERO"): the invoice's "1-250231".
            series = re.match(r"\s{1,3}(\d{4,})(?![\d.,/])", where.text[found.end + offset :])
            if len(value) < 3 and value.isdigit() and series:
                value = f"{value}-{series.group(1)}"
                score *= 0.85
            # A column cut that began after the series: "0003 - |00003435" under "FACTURA".
            cut = re.search(r"(?<![\w-])(\d{1,5})\s+-\s+$", where.text[: found.start + offset])
            if cut and value.isdigit():
                value = f"{cut.group(1)}-{value}"
            if len(value) < 3:
                # "Otras no renovables 4,3%", "en los ultimos 14 meses": a short figure after a
                # word that is also prose; only a specific label with a colon vouches for it,
                # or one that names the invoice with its abbreviation's dot ("Rechnung Nr. 42").
                mark = r"\s*[:#.]" if " " in hit.label else r"\s*[:#]"
                if not (specific and re.match(mark, doc.lines[index].text[hit.end :])):
                    continue
                score *= 0.7
            prefix = _number_prefix(doc, index)
            if prefix is not None and not value.startswith(prefix):
                value = f"{prefix}-{value}"
            if best is None or score > best.score:
                best = _Candidate(value, score, where, found.start + offset, found.end + offset)
    if best is not None:
        return best
    for line in doc.lines:  # unlabelled: something shaped like an invoice id
        match = re.search(r"\b(INV[-/]?[A-Z0-9][A-Z0-9\-/]*\d)\b", fix_digits(line.text), re.I)
        if match:
            return _Candidate(match.group(1), 0.35, line)
    return None


def _number_prefix(doc: _Document, index: int) -> str | None:
    """A series printed before the number on its line or the line above ("Punto de Venta:
    00003"), to join to it; None when there is none."""
    for at in (index, index - 1):
        if at < 0:
            continue
        for hit in doc.labels(at, ("number_prefix",)):
            found = re.match(r"[\s:#.º°]*(\d{1,6})\b", doc.lines[at].text[hit.end :])
            if found:
                return found.group(1)
    return None


def _as_list(found: read.Found | None) -> list[read.Found]:
    return [] if found is None else [found]


def _date(doc: _Document) -> _Candidate | None:
    """The issue date; other labelled dates (due, delivery) only cross-check it."""
    issue: list[_Candidate] = []
    others: list[_Candidate] = []
    seen_unlabelled = 0
    for index, line in enumerate(doc.lines):
        found_dates = read.dates(line.text, doc.order, doc.language, doc.proven)
        hits = doc.labels(index, ("date", "other_date"))
        for found in found_dates:
            left = [hit for hit in hits if hit.end <= found.start]
            label = left[-1] if left else None
            conf = _ocr(line, found, 0)
            # A bare "vom"/"Date" after a version or related-document label is that one's date.
            short_date = label is not None and label.kind == "date" and len(label.label) <= 6
            if short_date and any(h.kind == "other_date" for h in left[:-1]):
                label = next(h for h in reversed(left) if h.kind == "other_date")
            # "Facture n° 2200566 du 19-07-2022": a short "du"/"del" after the invoice number
            # dates the invoice, not a period.
            if (
                label is not None
                and label.kind == "other_date"
                and len(label.label) <= 3
                and any(
                    h.kind == "invoice_number" and h.end <= label.start for h in doc.hits[index]
                )
            ):
                label = dataclasses.replace(label, kind="date")
            if label is not None and label.kind == "other_date":
                others.append(_Candidate(found.value.isoformat(), 0.2, line))
                continue
            if label is not None:
                weight = 1.0 if " " in label.label or len(label.label) > 6 else 0.85
                score = weight * found.sure * label.score * conf
            else:
                score = max(0.3, 0.6 - 0.1 * seen_unlabelled) * found.sure * conf
                seen_unlabelled += 1
            if any(h.kind == "invoice_number" for h in doc.hits[index]):
                score = min(1.0, score + 0.1)  # "Rechnung Nr. 471102 vom 15.11.2024"
                if _TIME.match(line.text[found.end :]):
                    score += 0.15  # a receipt prints its date with the time of sale
            elif label is None and _TIME.match(line.text[found.end :]):
                score += 0.15  # a till's date-time stamp, not a version or a code
            issue.append(_Candidate(found.value.isoformat(), score, line, found.start, found.end))
        # A label alone on its line, the date below it in the column.
        if not found_dates:
            for hit in hits:
                got = _after_label(
                    doc, index, hit, lambda t: read.dates(t, doc.order, doc.language, doc.proven)
                )
                if got is None:
                    continue
                found, where, offset, placement = got
                value = found.value.isoformat()
                if hit.kind == "other_date":
                    others.append(_Candidate(value, 0.2, where))
                    continue
                score = 0.95 * placement * found.sure * hit.score
                issue.append(
                    _Candidate(value, score, where, found.start + offset, found.end + offset)
                )
    # The same date under a date label and unlabelled elsewhere: keep the labelled score.
    if not issue:
        return None
    other_values = {c.value for c in others}
    for candidate in issue:
        if candidate.value in other_values and candidate.score < 0.8:
            candidate.score *= 0.5
    # A date printed twice (header and footer, receipt top and card slip) is likelier read right.
    counts: dict[str, int] = {}
    for candidate in issue:
        counts[candidate.value] = counts.get(candidate.value, 0) + 1
    for candidate in issue:
        if counts[candidate.value] > 1:
            candidate.score = min(1.0, candidate.score * 1.2)
    # The invoice dates its first page; a date found only on later pages is an attachment's
    # (a work order, a quote) or a statement line's.
    first = doc.lines[0].page
    on_first = {c.value for c in issue if c.line.page == first}
    for candidate in issue:
        if candidate.line.page != first and candidate.value not in on_first:
            candidate.score *= 0.8
    best = max(issue, key=lambda c: c.score)
    later = [c.value for c in others]
    if later and all(value >= best.value for value in later):
        best.score = min(1.0, best.score * 1.05)  # due and delivery dates after it
    return best


# A labelled amount: (value, score, line it is on, start, end in that line, its label).
_Labelled = tuple[Decimal, float, DocLine, int, int, LabelHit]


def _amounts_under(
    doc: _Document, kinds: tuple[str, ...], skip: tuple[str, ...]
) -> list[_Labelled]:
    found_all = []
    for index in range(len(doc.lines)):
        hits = doc.labels(index, kinds + skip)
        for hit in hits:
            if hit.kind in skip:
                continue
            # The value of this label is left of the next label on the line, if any.
            got = _after_label(doc, index, hit, _money, pick_last=True)
            if got is None:
                continue
            found, where, offset, placement = got
            if hit.kind == "total" and where is not doc.lines[index] and hit.start > 2:
                # A bare "Total"/"Amount" column header: under it may be the total of a
                # summary row, or an item of a table; the cross-checks tell.
                placement *= 0.6
            found_all.append(
                (
                    found.value,
                    placement * found.sure * hit.score * _ocr(where, found, offset),
                    where,
                    found.start + offset,
                    found.end + offset,
                    hit,
                )
            )
    return found_all


def _taxes(doc: _Document) -> list[_Labelled]:
    """The tax-labelled amounts, as :func:`_amounts_under` gives them."""
    return _amounts_under(doc, ("tax",), ("net", "total_due", "total_strong", "total"))


def _total(
    doc: _Document, taxes: list[_Labelled]
) -> tuple[_Candidate | None, Decimal | None, Decimal | None, bool]:
    """The total, the net and tax amounts used to check it, and whether a net and a tax on
    the page add up to a total printed there (the total itself, or the gross total beside
    what is left to pay). ``taxes``: :func:`_taxes` of the document."""
    skip = ("not_total", "net", "tax")
    labelled = _amounts_under(doc, ("total_due", "total_strong", "total"), skip)
    nets = _amounts_under(doc, ("net",), ("total_due", "total_strong"))
    # A "total" before tax (Spanish bills print IMPORTE TOTAL, then IVA, then TOTAL) is a net.
    net_amounts = [amount for amount, *_ in nets]
    pre_tax_totals = [amount for amount, *_ in labelled]
    tax_amounts = [amount for amount, *_ in taxes]
    # A zero beside a clearly read real tax ("Otros impuestos: 0.00") checks nothing.
    if any(amount and score >= 0.7 for amount, score, *_ in taxes):
        tax_amounts = [amount for amount in tax_amounts if amount]
    if len(tax_amounts) > 1:
        tax_amounts.append(sum(tax_amounts, Decimal(0)))  # one line per VAT rate
    # A base/rate/tax table: its sums are a net and a tax; rows printing their rate without a
    # "%" ("21,00 498,20 104,62") count only when they add up to a labelled total below.
    for bases, rated, _last in [*doc.rate_rows, *_rate_rows(doc, percent=False)]:
        net_amounts.append(bases)
        tax_amounts.append(rated)
    for net_row, tax_row in _summary_rows(doc):
        net_amounts.append(net_row)
        tax_amounts.append(tax_row)

    def split(amount: Decimal) -> tuple[Decimal, Decimal] | None:
        """A net and a tax on the page that add up to ``amount``, if there are."""
        others = [n for n in pre_tax_totals if n != amount]
        for n in [*reversed(net_amounts), *reversed(others)]:
            for t in reversed(tax_amounts):
                # Tax is a fraction of the net (no VAT rate is over 30%), never the net itself;
                # on a credit note both are negative.
                if n + t == amount and n != 0 and 0 <= t / n <= Decimal("0.3"):
                    return n, t
        return None

    net = nets[-1][0] if nets else None
    tax = taxes[-1][0] if taxes else None
    # Cash given and change are the largest figures on many receipts, never the total.
    every = [
        f.value
        for line in doc.lines
        if not any(h.kind == "not_total" for h in doc.hits[line.index])
        for f in doc.money[line.index]
        if f.sure == 1.0
    ]
    largest = max(every, default=None)
    candidates: list[_Candidate] = []
    tiers = {"total_due": 1.0, "total_strong": 0.9, "total": 0.7}
    for amount, score, line, start, end, hit in labelled:
        beside = {h.kind for h in doc.hits[line.index]}
        own_line = hit in doc.hits[line.index]  # the value is beside its label, not under it
        # "VAT total", "Net total": a bare "total" next to a tax or net label names their sum
        # ("Base 100,00 IVA 21% 21,00 Total 121,00" prints them apart: its total is the total).
        qualified = any(
            -3 <= h.start - hit.end <= 3 or -3 <= hit.start - h.end <= 3
            for h in doc.hits[line.index]
            if h.kind in ("net", "tax")
        )
        if hit.kind == "total" and own_line and qualified and "tax_included" not in beside:
            continue
        score *= tiers[hit.kind]
        if split(amount) is not None:
            score = min(1.0, score * 1.3 + 0.2)
        elif net is not None and amount < net and hit.kind != "total_due":
            # Below the net only after a discount printed on the page (subtotal - discount).
            if not any(net + d == amount for d in every if d < 0):
                score *= 0.5
        # The total is the largest amount, unless it is what is left to pay after a deposit.
        if largest is not None and amount == largest:
            score = min(1.0, score * 1.1)
        elif largest is not None and amount < largest and hit.kind != "total_due":
            score *= 0.85
        if amount == 0 or (amount < 0 and hit.kind != "total_due"):
            score *= 0.3  # a credit note's amount due is negative; nothing else on it is
        # What the document asks to be paid outranks a gross total (a deposit may be
        # deducted); among equal labels the later one wins (a total ends the page).
        rank = (0.25 if hit.kind == "total_due" else 0.0) + line.index * 1e-5
        candidates.append(_Candidate(f"{amount:.2f}", score, line, start, end, rank))
    # Cash handed over minus the change given back is what was paid.
    changes = [back for back, *_ in _amounts_under(doc, ("change",), ())]
    paid = {
        given - back
        for given, *_ in _amounts_under(doc, ("tendered",), ())
        for back in changes
        if given > back >= 0
    }
    for candidate in candidates:
        if Decimal(candidate.value) in paid:
            candidate.score = min(1.0, candidate.score * 1.3 + 0.2)
    if paid and not any(Decimal(c.value) in paid for c in candidates):
        for line in doc.lines:
            figure = next((f for f in doc.money[line.index] if f.value in paid), None)
            if figure is not None:
                candidates.append(
                    _Candidate(f"{figure.value:.2f}", 0.6, line, figure.start, figure.end)
                )
                break
    if not candidates and net is not None:
        # No total printed under a label: net + tax if the page prints that sum, else the
        # subtotal itself (a receipt whose only sum is "SUBTOTAL").
        expected = net + (tax or Decimal(0))
        for amount, score in ((expected, 0.55), (net, 0.4)):
            printed = next(
                (x for x in doc.lines if any(f.value == amount for f in doc.money[x.index])), None
            )
            if printed is not None and (amount == expected or tax is None):
                candidates.append(_Candidate(f"{amount:.2f}", score, printed))
                break
    if not candidates and largest is not None:
        for line in reversed(doc.lines):
            if any(f.value == largest for f in doc.money[line.index]):
                candidates.append(_Candidate(f"{largest:.2f}", 0.25, line))
                break
    best = max(candidates, key=lambda c: c.score + c.rank, default=None)
    if best is not None:
        best = _rounded(doc, best)
        best.score = min(1.0, best.score)
        # What is left to pay after a deposit does not add up from net and tax; the gross
        # total printed beside it does.
        for candidate in [best, *sorted(candidates, key=lambda c: -(c.score + c.rank))]:
            pair = split(Decimal(candidate.value))
            if pair is not None:
                net, tax = pair
                return best, net, tax, True
    return best, net, tax, False


def _summary_rows(doc: _Document) -> list[tuple[Decimal, Decimal]]:
    """The net and tax of each line that prints net and tax, either first, then their sum
    ("Total  261.32  15.68  277.00", "Summe  2,33  17,44  19,77"): a tax of 1% to 30% of the
    net, not a few cents of rounding or discount."""
    rows = []
    for line in doc.lines:
        found = [f for f in doc.money[line.index] if f.value > 0]
        for i, one in enumerate(found):
            for other in found[i + 1 :]:
                net, tax = max(one.value, other.value), min(one.value, other.value)
                if not net * Decimal("0.01") <= tax <= net * Decimal("0.3"):
                    continue
                if any(f.value == net + tax and f.start > other.end for f in found):
                    rows.append((net, tax))
    return rows


def _rounded(doc: _Document, total: _Candidate) -> _Candidate:
    """The total after a cash rounding printed below it ("Total 65,53" then "Rounding Adj:
    0.02": 65.55 is paid), when the adjustment is a few cents; else ``total`` itself."""
    value = Decimal(total.value)
    for amount, _score, line, *_ in _amounts_under(doc, ("rounding",), ()):
        if line.index <= total.line.index or not 0 < abs(amount) < Decimal("0.10"):
            continue
        paid = value + amount
        printed = any(
            f.value == paid for below in doc.lines[line.index :] for f in doc.money[below.index]
        )
        score = total.score if printed else total.score * 0.8
        return _Candidate(f"{paid:.2f}", score, line, rank=total.rank)
    return total


def _tax(
    doc: _Document,
    taxes: list[_Labelled],
    total: _Candidate | None,
    net: Decimal | None,
    checked: Decimal | None,
    added_up: bool = False,
) -> _Candidate | None:
    """The tax amount: one that makes net + tax = total (``checked``: a labelled one, or the
    sum of the per-rate lines), else total - net, else the tax-labelled amount, unchecked.
    ``taxes``: :func:`_taxes` of the document."""
    if checked is not None and total is not None and added_up:
        return _Candidate(f"{checked:.2f}", 0.95, total.line)
    if not taxes and (total is None or net is None):
        return None
    summed = sum((amount for amount, *_ in taxes), Decimal(0))
    options = []
    stated = []  # "Total VAT", "Summe MwSt", "Total IMPUESTOS": the tax total itself
    for amount, score, line, _start, _end, hit in taxes:
        # "Steuerbetrag", "Tax amount", "Montant TVA" name the tax figure itself; a bare "VAT"
        # may head a per-rate row or a category code.
        if _TAX_FIGURE.search(hit.label):
            score = min(1.0, score * 1.2)
        if any(h.kind in ("total", "total_strong") for h in doc.hits[line.index]):
            score = min(1.0, score * 1.3)
            stated.append((amount, score, line))
        options.append((amount, score, line))
    if len(taxes) > 1:
        options.append((summed, 0.8, taxes[-1][2]))
    # A labelled tax that is the net times the rate printed beside it checks out on its own.
    rated = [o for o in options if net is not None and o[0] in _rate_shares(o[2], net)]
    if total is not None and net is not None and Decimal(total.value) >= net:
        difference = Decimal(total.value) - net
        for amount, score, line in options:
            # A zero difference (the total read is the net) checks no tax but an exempt one.
            if amount == difference and (amount or not any(o[0] for o in options)):
                return _Candidate(f"{amount:.2f}", min(1.0, score * 1.3 + 0.2), line)
        stated = [o for o in stated if 0 <= o[0] < Decimal(total.value)]
        if stated:  # the page's own tax total beats a difference with an unsure net
            amount, score, line = max(stated, key=lambda o: o[1])
            return _Candidate(f"{amount:.2f}", score * 0.75, line)
        if rated:  # the page's own sum is off ("1.420,00 + 269,80 = 1.589,80"): the row wins
            amount, score, line = max(rated, key=lambda o: o[1])
            return _Candidate(f"{amount:.2f}", score * 0.8, line)
        if difference > net * Decimal("0.3"):
            return None  # no VAT rate is that high: the net read is not the net
        printed = any(f.value == difference for found in doc.money for f in found)
        return _Candidate(f"{difference:.2f}", 0.7 if printed else 0.45, total.line)
    # No VAT rate makes the tax a third of the total or more (a credit note's, in size).
    ceiling = abs(Decimal(total.value)) if total is not None else None
    fitting = [o for o in options if ceiling is None or abs(o[0]) < ceiling * Decimal("0.35")]
    if not fitting:
        return None
    amount, score, line = max(fitting, key=lambda o: o[1])
    return _Candidate(f"{amount:.2f}", score * 0.7, line)


_RATE_FIGURE = re.compile(r"(?<![\d.,])(\d{1,2})(?:[.,](\d{1,3}))?\s?%?(?![\d.,]*\d)")


def _rates(line: DocLine) -> set[Decimal]:
    """The VAT rates (percent, 1..27) a line prints, with or without a % sign."""
    return {
        Decimal(f"{m.group(1)}.{m.group(2) or 0}")
        for m in _RATE_FIGURE.finditer(line.text)
        if 0 < int(m.group(1)) <= 27
    }


def _rate_shares(line: DocLine, base: Decimal) -> set[Decimal]:
    """``base`` times each rate ``line`` prints, to the cent: the taxes that rate gives."""
    cent = Decimal("0.01")
    return {(base * rate / 100).quantize(cent) for rate in _rates(line)}


def _rate_rows(doc: _Document, percent: bool = True) -> list[tuple[Decimal, Decimal, int]]:
    """The sums of the bases and of the taxes of each VAT table with a row per rate: a run
    of lines where base x the rate printed on the line = the tax ("62,09 1=10,00% 6,21",
    "21 22,60 € 21,000 % 4,75 €", or the tax first: "A 7% 0,58 8,22 8,80"; with ``percent``
    false also rows without a "%", and then no stray line between rows). With one rate per
    row and no totals row, a run's sums are the invoice's net and tax. Returns ``(bases,
    taxes, index of the run's last row)`` per run; ``[]`` when the page has no such lines."""
    runs: list[tuple[Decimal, Decimal, int]] = []
    bases, taxes, rows, gap, last = Decimal(0), Decimal(0), 0, False, 0
    for line in [*doc.lines, None]:
        found = doc.money[line.index] if line is not None else []
        pair = next(
            (
                (base.value, tax.value)
                for base in found
                for tax in found
                if tax is not base
                and 0 < tax.value < base.value
                and line is not None
                and ("%" in line.text or not percent)  # a rate row prints its rate as one
                and tax.value in _rate_shares(line, base.value)
            ),
            None,
        )
        if pair is not None and line is not None:
            bases, taxes, rows, gap = bases + pair[0], taxes + pair[1], rows + 1, False
            last = line.index
            continue
        if rows and not gap and line is not None and percent:
            gap = True  # a line of another column may sit between two rows
            continue
        if rows:
            runs.append((bases, taxes, last))
        bases, taxes, rows, gap = Decimal(0), Decimal(0), 0, False
    return runs


def _summed_rows_tax(doc: _Document) -> _Candidate | None:
    """The tax of a VAT table whose totals row prints both sums of its rate rows ("9% 19,74
    1,78" / "21% 1,83 0,38" / "TOTAAL 21,57 2,16"): checked by the page itself, even where
    the amount paid adds other things (deposits, stamps)."""
    for bases, taxes, last in doc.rate_rows:
        for line in doc.lines[last + 1 : last + 3]:
            values = {f.value for f in doc.money[line.index]}
            if {bases, taxes} <= values:
                return _Candidate(f"{taxes:.2f}", 0.9, line)
    return None


def _rated_tax(doc: _Document, total: _Candidate | None) -> _Candidate | None:
    """The tax of a page whose tax row carries no label the vocabularies know (a form whose
    captions are part of its background): a line printing a rate, a base and a tax where
    base x rate = tax and base + tax = the total. None when no line adds up so."""
    if total is None:
        return None
    target = Decimal(total.value)
    for line in reversed(doc.lines):
        found = doc.money[line.index]
        if len(found) < 2:
            continue
        for base in found:
            for tax in found:
                if tax is base or base.value <= 0 or base.value + tax.value != target:
                    continue
                if tax.value in _rate_shares(line, base.value):
                    return _Candidate(f"{tax.value:.2f}", 0.85, line, tax.start, tax.end)
    return None


def _currency(doc: _Document, total: _Candidate | None) -> _Candidate | None:
    for index, line in enumerate(doc.lines):
        for hit in doc.labels(index, ("currency",)):
            signs = read.currency_signs(line.text[hit.end : hit.end + 12])
            if signs:
                return _Candidate(str(signs[0].value), 0.95 * hit.score, line)
    if total is not None:
        signs = read.currency_signs(total.line.text)
        if signs:
            near = min(signs, key=lambda s: abs(s.start - total.start))
            code = str(near.value)
            if near.sure < 1.0 and code == "USD":
                code = _dollar_country(doc) or code
            return _Candidate(code, 0.95 * near.sure, total.line)
        slip = read.currency_near_miss(total.line.text[total.end :])
        if slip is not None:
            return _Candidate(slip, 0.6, total.line)
    votes: dict[str, float] = {}
    where: dict[str, DocLine] = {}
    for line in doc.lines:
        for sign in read.currency_signs(line.text):
            code = str(sign.value)
            votes[code] = votes.get(code, 0.0) + sign.sure
            where.setdefault(code, line)
    if not votes:
        # One misread letter in the only code on the page ("1277%.73 CHE"): the code it fits.
        for line in doc.lines:
            labels = [h for h in doc.hits[line.index] if h.kind in ("total_due", "total_strong")]
            slip = read.currency_near_miss(line.text[labels[0].end :]) if labels else None
            if slip is not None:
                return _Candidate(slip, 0.5, line)
        # No sign at all (a thermal receipt's column header lost to OCR): the currency of the
        # country its tax ids and address name.
        if doc.country is None or total is None:
            return None
        return _Candidate(doc.country[0], 0.6 * doc.country[1], total.line)
    code = max(votes, key=lambda c: votes[c])
    share = votes[code] / sum(votes.values())
    score = 0.7 * share * min(1.0, 0.6 + 0.2 * votes[code])
    if code == "USD" and "usd" not in " ".join(doc.folded):
        return _Candidate(_dollar_country(doc) or code, score, where[code])
    return _Candidate(code, score, where[code])


def _dollar_country(doc: _Document) -> str | None:
    """Which dollar or peso a "$" is, from the country the page names (CUIT -> ARS)."""
    dollars = vocabulary_currencies().get("ambiguous", {}).get("$", [])
    return doc.country[0] if doc.country is not None and doc.country[0] in dollars else None


_NOT_NAME = re.compile(
    r"\blogo\b|stylesheet|www\.|https?:|@|\be-?mail\b|\btel\b|\bphone\b|\bfax\b|\bmobile\b|\bopen(?:ing)?\b|"
    r"\bmon\b|\bmo\.?\s*-|\buhr\b|\bmonday\b|\bhours\b|öffnungszeiten|\baccount\b|\biban\b|\bbic\b|\bpage\b|"
    # A card slip's words: "Kaart", "Transactie", "Terminal", "VISA", "Tarjeta".
    r"kaart\b|\btransact|\bterminal\b|\bmerchant\b|\bcontactless\b|\bvisa\b|"
    r"\bmastercard\b|\bmaestro\b|\btarjeta\b|\bcart[aã]o\b|\bautori[sz]|"
    r"\bseite\b|\bhoja\b|\bp[aá]gina\b|\bfoglio\b|\bfeuille\b|\breg\b|\bgst\s*(?:no|id|reg)|\bvat\s*(?:no|id|reg)|ust-?id|steuer-?nr|\bsiret\b|"
    r"\bnif\b|\bcif\b|\bkvk\b|\bbtw\b|\bp\.?iva\b|\bno\s*:|\bdate\b|"
    # Argentine and Spanish tax status and copy marks: "Responsable Inscripto", "ORIGINAL".
    r"responsable\s+inscripto|consumidor\s+final|monotribut|\bexento\b|\bcuit\b|"
    r"ingresos\s+brutos|\btributari[oa]\b|^(?:original|duplicado|triplicado)$|^raz[oó]n\s+social\b|"
    # A receipt's policy line, its words often glued: "GOODSSOLDARENOTRETURNABLE".
    r"returnable|refundable|exchangeable",
    re.I,
)
_ADDRESS = re.compile(
    r"\b\d{4,6}\s+[A-ZÄÖÜ][a-zäöüß]+|\b(?:jalan|jln|street|str\.|straße|strasse|road|rd\.?|"
    r"avenue|ave\.?|rue|calle|via|weg|laan|lorong|taman|plaza|blvd|lane|avda|avenida|paseo|"
    r"pol[ií]gono|pol\.\s*ind|nave|ctra|carretera|camino|rua|mukim|kampung)\b|^c/|"
    r"^lot\s*\d|"  # a Malaysian lot number: "Lot 1626, Mukim Kampung Laut"
    # A street name glued to its kind, then its number: "Tolweg 27", "Hauptstraße 5".
    r"[a-zäöüß](?:straße|strasse|str\.|weg|gasse|platz|allee|straat|laan|plein|gracht|kade)"
    r"\s*\d",
    re.I,
)


def _vendor(doc: _Document) -> _Candidate | None:
    """The issuer: a labelled name, else a name near the top of the first page, scored."""
    labelled = _labelled_vendor(doc) or _issued_by(doc)
    if labelled is not None:
        return labelled
    first_page = [line for line in doc.lines if line.page == doc.lines[0].page] if doc.lines else []
    heights = sorted(line.height for line in first_page if line.height)
    median = heights[len(heights) // 2] if heights else 0.0
    domains = _domains(doc)
    customer_until = -1
    candidates: list[_Candidate] = []
    for rank, line in enumerate(first_page):
        hits = doc.hits[line.index]
        if any(hit.kind == "customer" and hit.start <= 2 and _names(line, hit) for hit in hits):
            customer_until = rank + 4
            continue
        # Below the head of the page only a legal name (a footer's "Acme GmbH") is a candidate.
        if rank >= 14 and not _company(doc, line.index):
            continue
        cells = line.cells()
        if len(cells) >= 3 and all(len(line.text[a:b].split()) <= 2 for a, b in cells):
            continue  # a table's column headers
        start, end = cells[0]  # the left column: the seller's, beside the buyer's
        raw = _cut_after_company(doc, line, end)
        # A sender line: "Acme GmbH | Somestreet 42 | 08155 Some city" -> the name.
        raw = re.split(r"\s+[|·•–—]\s+", raw)[0]
        if re.search(r"\w\s*:\s*\S", raw) or re.match(r"\s*:", line.text[end:]):
            continue  # a field and its value ("Geschäftsprozess : ..."), not a name
        name = _tidy_name(raw)
        if not _could_be_name(doc, line, name) or _priced(doc, line, end):
            continue
        company = _company(doc, line.index, end)
        if company and rank > 0:
            name = _joined_with_line_above(doc, first_page[rank - 1], line, name)
        score = 0.55 - 0.03 * rank if rank < 14 else 0.35
        if company:
            score += 0.3
        if median and line.height >= 1.3 * median:
            score += 0.15
        if name == name.lower():
            score *= 0.6  # a business prints its name in capitals or title case
        if _is_customer(name, doc.customers):
            continue
        if rank <= customer_until:
            score *= 0.3
        key = re.sub(r"[^a-z0-9]", "", fold(name))
        if any(len(d) >= 4 and (d in key or key[:6] in d) for d in domains if key):
            score = min(1.0, score + 0.25)  # the name is in the document's web or mail address
        score *= _ocr(line, None, 0)
        candidates.append(_Candidate(name, score, line))
    # A company's legal name in the footer (German invoices print it there) backs a top line.
    footer = first_page[-8:]
    for candidate in candidates:
        key = fold(candidate.value)
        if any(key and key in fold(line.text) for line in footer if line is not candidate.line):
            candidate.score = min(1.0, candidate.score + 0.15)
    # A brand heading, then the legal name just under it ("KIKU JAPANESE RESTAURANT" / "TK
    # DIVISION KITCHEN SDN BHD"): the legal name is the issuer.
    best = max(candidates, key=lambda c: c.score, default=None)
    if best is not None and not _company(doc, best.line.index, legal=True):
        rank = first_page.index(best.line)
        for candidate in candidates:
            below = first_page.index(candidate.line) - rank
            between = first_page[rank + 1 : rank + below]  # a branch line, never a label
            if (
                0 < below <= 2
                and _company(doc, candidate.line.index, legal=True)
                and not any(doc.hits[line.index] for line in between)
            ):
                return _Candidate(candidate.value, best.score, candidate.line)
    return best


def _priced(doc: _Document, line: DocLine, end: int) -> bool:
    """Whether all the line holds after its first cell (which ends at ``end``) is one price,
    with its currency at most: "Energía  14,52 €" is a bill's item, not a name."""
    found = [f for f in doc.money[line.index] if f.start >= end and f.sure == 1.0]
    if len(found) != 1:
        return False
    rest = line.text[end : found[0].start] + line.text[found[0].end :]
    return _letters(rest) <= 3 and not any(ch.isdigit() for ch in rest)


_FIELD_NAME = re.compile(
    r"^\s*(?:name|firma|company|company name|nom|raison sociale|nombre|raz[oó]n social|"
    r"ragione sociale|denominazione|naam|bedrijf|empresa|denomina[cç][aã]o)\s*:\s*",
    re.I,
)


def _customer_keys(doc: _Document) -> set[str]:
    """The names printed after a customer label anywhere ("Titular: Antonio Vargas",
    "Pagador: ARGALLO BAR S.L"), as :func:`_key` gives them: the vendor is never one."""
    keys = set()
    for index, line in enumerate(doc.lines):
        for hit in doc.labels(index, ("customer",)):
            if not _names(line, hit):
                continue
            after = line.text[hit.end :].lstrip(" :").split("  ")[0]
            # The name ends where its tax id or the next field starts ("... 23730886S Nº ...").
            key = _key(re.split(r"\s\S*\d", after)[0])
            if len(key) >= 6:
                keys.add(key)
    return keys


def _names(line: DocLine, hit: LabelHit) -> bool:
    """Whether a customer label names a party: a short one ("Pour", "For", "Para") only
    with a colon after it, since it is also the first word of many sentences."""
    return len(hit.label) > 4 or line.text[hit.end : hit.end + 2].strip().startswith(":")


def _key(name: str) -> str:
    """A name's letters and digits, folded: what two printings of one name share."""
    return re.sub(r"[^a-z0-9]", "", fold(name))


def _is_customer(name: str, customers: set[str]) -> bool:
    # The same name, or one printing of it cut short: not a town or a word they share.
    key = _key(name)
    return len(key) >= 6 and any(
        c.startswith(key) or key.startswith(c)
        for c in customers
        if min(len(c), len(key)) >= 0.8 * max(len(c), len(key))
    )


def _labelled_vendor(doc: _Document) -> _Candidate | None:
    """ "Seller: Acme" on one line, or "Seller" alone with the name on the lines below."""
    for index, line in enumerate(doc.lines[:60]):
        for hit in doc.labels(index, ("vendor",)):
            if hit.start > 2 and not (" " in hit.label and hit.start < 25):
                continue
            rest = line.text[hit.end :]
            # "Seller: Acme"; without the colon the word may be part of the name itself
            # ("Lieferant GmbH"), so it only labels a name on the lines below. A phrase
            # ("Documento emitido por IBERDROLA CLIENTES, S.A.U.") is not part of one.
            if re.match(r"\s*:", rest) or (" " in hit.label and rest.strip()):
                # The name ends at the next field ("Fecha de Emisión:") or table cell.
                stop = min(
                    (
                        h.start - hit.end
                        for h in doc.hits[index]
                        if h.start >= hit.end
                        and line.text[h.end : h.end + 2].strip().startswith(":")
                    ),
                    default=len(rest),
                )
                first = _FIELD_NAME.sub("", rest[:stop].lstrip(" :")).split("  ")[0]
                name = _tidy_name(first)
                if " " in hit.label and not re.match(r"\s*:", rest):
                    # A sentence goes on after the name, which ends at its legal form; one
                    # without a legal form names nobody ("Responsable del tratamiento de sus
                    # datos personales").
                    sentence_name = _up_to_legal_form(doc, line, hit)
                    if sentence_name is None:
                        continue
                    name = sentence_name
                customer = _is_customer(name, doc.customers)
                if _letters(name) >= 3 and not _NOT_NAME.search(name) and not customer:
                    return _Candidate(name, 0.9 * hit.score, line)
            cell = next((c for c in line.cells() if c[0] <= hit.start < c[1]), None)
            alone = cell is not None and not line.text[hit.end : cell[1]].strip(" :")
            # "Merchant  1315641": a card slip's merchant id, not a heading over a name.
            numbered = cell is not None and re.match(r"\s*[:#]?\s*\d", line.text[cell[1] :])
            if not alone or numbered or len(hit.label) <= 4:
                continue
            box = line.span_x(hit.start, hit.end)
            following = doc.lines[index + 1 : index + 5]
            for number, below in enumerate(following):
                if below.page != line.page:
                    break
                raw = _FIELD_NAME.sub("", _column_text(below, box))
                if ":" in raw or re.search(r"\w\s*:\s*\S", _FIELD_NAME.sub("", below.text)):
                    continue  # another field ("Nummer : 12345676"), not the name
                name = _tidy_name(raw)
                if not _could_be_name(doc, below, name):
                    continue
                # A long name wraps onto the next line, which ends with the legal form:
                # "MVM Musterhafter" / "Versicherungsverein Musterstadt a.G."
                if number + 1 < len(following) and not _company(doc, below.index):
                    nxt = following[number + 1]
                    rest = _tidy_name(_FIELD_NAME.sub("", _column_text(nxt, box)))
                    if _company(doc, nxt.index) and ":" not in rest and len(rest) <= 50:
                        name = f"{name} {rest}"
                return _Candidate(name, 0.85 * hit.score, below)
    return None


def _issued_by(doc: _Document) -> _Candidate | None:
    """The issuer a sentence names anywhere on the page: "Factura ... emitida por TotalEnergies
    Clientes, S.A.U.", "issued by Acme Ltd": a phrase label followed by a name that ends in
    a legal form."""
    for index, line in enumerate(doc.lines):
        for hit in doc.labels(index, ("vendor",)):
            if " " not in hit.label:
                continue
            name = _up_to_legal_form(doc, line, hit)
            if name is not None and _letters(name) >= 3 and not _is_customer(name, doc.customers):
                return _Candidate(name, 0.8 * hit.score, line)
    return None


def _up_to_legal_form(doc: _Document, line: DocLine, hit: LabelHit) -> str | None:
    """The words after ``hit`` up to the first legal form within 60 characters ("emitida por
    TotalEnergies Clientes, S.A.U. Puede ..." -> "TotalEnergies Clientes, S.A.U."), tidied;
    None when no legal form follows that closely."""
    forms = [
        h
        for h in doc.hits[line.index]
        if h.kind == "company" and h.start > hit.end and h.start - hit.end <= 60
    ]
    if not forms:
        return None
    first = min(forms, key=lambda h: h.start)  # "S.A.U." over the "S.A" in it
    if "  " in line.text[hit.end : first.start].strip():
        return None  # the legal form is another cell's ("emitido por  ACME  Cliente: XYZ S.L.")
    end = max(h.end for h in forms if h.start <= first.end)
    # "El responsable del tratamiento es Iberdrola Clientes, S.A.U.": the verb is no part of it.
    name = line.text[hit.end : end].lstrip(" :")
    return _tidy_name(re.sub(r"^(?:es|is|est|ist|é|è)\s+", "", name, flags=re.I))


def _joined_with_line_above(doc: _Document, above: DocLine, line: DocLine, name: str) -> str:
    """A big heading wraps its name: "POPULAR BOOK" / "CO. (M) SDN BHD". Join the line above
    when this one is little more than the legal form and the two are set alike (same case,
    a similar font size, no digits or labels above)."""
    legal = min((h.start for h in doc.hits[line.index] if h.kind in _NAMED), default=None)
    head = fold(name)[:legal] if legal is not None else fold(name)
    # Set flush left in one block, a longer name wraps too: "MVM Musterhafter" /
    # "Versicherungsverein Musterstadt a.G.".
    aligned = bool(above.words and line.words)
    aligned = aligned and abs(above.words[0].left - line.words[0].left) <= 6
    if len(re.findall(r"[a-z]{2,}", head)) > 1 and not (
        aligned and len(f"{above.text} {name}".split()) <= 6  # a name, not two lines of prose
    ):
        return name  # "Continente Hipermercados SA" is a whole name already
    top = _tidy_name(above.text)
    similar = not above.height or not line.height or 0.75 <= above.height / line.height <= 1.33
    if (
        similar
        and top.isupper() == name.isupper()
        and not any(ch.isdigit() for ch in top)
        and not re.search(r"\s[-–|]\s", top)  # a brand and its branch, not half a name
        # no label above, but a short word that is also prose ("DISTRIBUIDORA INTERNACIONAL
        # DE" / "ALIMENTACION, S.A.")
        and not [h for h in doc.hits[above.index] if _labels_a_value(above, h, None)]
        and _could_be_name(doc, above, top)
    ):
        return f"{top} {name}"
    return name


def _column_text(line: DocLine, box: tuple[int, int] | None) -> str:
    """The text of ``line`` in the column a label heads: the cell under it, with the cell after
    it when that cell is only a field name ("Name:" | "Lieferant GmbH")."""
    if box is None:
        return line.text
    cells = line.cells()
    for number, (start, end) in enumerate(cells):
        where = line.span_x(start, end)
        if where is None or where[1] < box[0] - 5:
            continue
        text = line.text[start:end]
        if _FIELD_NAME.fullmatch(text.strip() + " ") and number + 1 < len(cells):
            text = line.text[start : cells[number + 1][1]]
        return text
    return ""


_DOMAIN = re.compile(
    r"(?:www\.|@|https?://)([a-z0-9-]{3,})\.|\b([a-z0-9-]{3,})\.(?:de|com|fr|nl|es|it|pt|co|my|"
    r"net|org|eu|at|ch|be|uk|in)\b"
)


def _domains(doc: _Document) -> set[str]:
    """The names in the document's web and mail addresses ("marktkauf-lehr" -> marktkauflehr)."""
    found = set()
    for folded in doc.folded:
        for match in _DOMAIN.finditer(folded):
            name = match.group(1) or match.group(2)
            found.add(name.replace("-", ""))
    return found - {"gmail", "yahoo", "hotmail", "outlook", "email", "mail", "web", "gmx"}


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


_GLUED_COMPANY = re.compile(r"(?:sdn\.?bhd|gmbh|berhad|limited|enterprise|trading)")


def _company(doc: _Document, index: int, end: int | None = None, legal: bool = False) -> bool:
    """Whether the line (up to ``end``) carries a legal form (GmbH, Ltd, S.L., SDN BHD) or,
    unless ``legal``, a word naming a kind of business ("Restaurant")."""
    folded = doc.folded[index]
    kinds = ("company",) if legal else _NAMED
    for hit in doc.hits[index]:
        if hit.kind not in kinds or (end is not None and hit.end > end):
            continue
        # A legal form ends a name: "Acme GmbH", not the "KG" of "UD/KG".
        before = folded[: hit.start]
        if before[-1:] in (" ", ",") and _letters(before) >= 3:
            return True
    # OCR that drops spaces glues the legal form on: "BOOKTA_K(TAMANDAYA)SDNBHD".
    return bool(_GLUED_COMPANY.search(doc.folded[index][:end].replace(" ", "")))


def _cut_after_company(doc: _Document, line: DocLine, end: int | None = None) -> str:
    """A name line often goes on with the address, or follows a slogan: keep the sentence
    with the legal form, up to the legal form."""
    text = line.text[:end]
    ends = [hit.end for hit in doc.hits[line.index] if hit.kind in _NAMED and hit.end <= len(text)]
    if ends:
        # A slogan is a sentence: it ends in a lower-case word ("wer's selber macht. toom
        # Baumarkt GmbH"), unlike an abbreviation in the name ("POPULAR BOOK CO. (M) SDN BHD").
        stops = [m.end() for m in re.finditer(r"[a-zäöüß]{2}[.!?]\s+", text[: min(ends)])]
        if stops and len(text[stops[-1] : max(ends)].split()) >= 2:
            text = text[stops[-1] :]
            ends = [e - stops[-1] for e in ends]
    if ends and re.search(r"[,·|•–-]\s", text[max(ends) :]):
        return text[: max(ends)]
    return text


def _could_be_name(doc: _Document, line: DocLine, name: str) -> bool:
    if _letters(name) < 3 or len(name) > 70:
        return False
    folded = fold(name).strip(" :.-")
    heading = vocabularies()
    for vocabulary in heading.values():
        if folded in vocabulary.labels["heading"]:
            return False
    hits = doc.hits[line.index]
    labelled = [h for h in hits if h.kind not in (*_NAMED, "heading", "receipt", "vendor")]
    # A label word inside a name with no figure after it is part of the name ("SLF CASH &
    # CARRY"); beside a figure, as most of the line or at its start, it labels it.
    named = any(h.kind in _NAMED for h in hits)
    worded = not any(ch.isdigit() for ch in line.text) and all(
        h.start > 0 and (h.end - h.start) < 0.5 * len(folded) for h in labelled
    )
    if labelled and not named and not worded:
        return False
    if any(h.kind == "heading" and (h.end - h.start) >= 0.6 * len(folded) for h in hits):
        return False
    if _NOT_NAME.search(name) or _ADDRESS.search(name) or name.count("/") >= 2:
        return False
    if read.currency_signs(name) and not _company(doc, line.index):
        return False  # a column header ("UD/KG €/UD/KG IMPORTE"), not a name
    if len(name.split()) >= 6 and not _company(doc, line.index):
        return False  # a sentence ("Not all services are available in all areas.")
    digits = sum(ch.isdigit() for ch in name)
    return digits <= 0.25 * len(name.replace(" ", ""))


def _tidy_name(name: str) -> str:
    # OCR often adds a stray mark at either end of a bold heading ("-Acme Ltd|"); a signed
    # receipt prefixes the name ("Fdo. MERCADONA S.A.").
    name = re.sub(r"^[\W_]+", "", name)
    name = re.sub(r"^(?:fdo|firmado|signed|gez)\.?\s+", "", name, flags=re.I)
    # A footer's "Documento emitido por IBERDROLA CLIENTES, S.A.U." names the issuer, as does
    # "Factura emitida en València por Energía Colectiva SL".
    issued = (
        r"^(?:(?:documento|factura)\s+)?"
        r"(?:emitid[oa](?:\s+en\s+\S+)?\s+por|emess[oa]\s+da|[ée]mise?\s+par|issued\s+by)\s+"
    )
    name = re.sub(issued, "", name, flags=re.I)
    # A company's registration number after its name: "MIZU MENTAI SDN. BHD. (1248446-V)".
    name = re.sub(r"\s*\(\s*[\w-]*\d[\w-]*\s*\)\s*$", "", name)
    name = re.sub(r"[^\w.)&]+$", "", name)
    return re.sub(r"\s+", " ", name)


def _ocr(line: DocLine, found: read.Found | None, offset: int) -> float:
    """A 0.6..1 factor from the OCR confidence of the words a value was read from."""
    confidence = (
        line.span_confidence(found.start + offset, found.end + offset)
        if found is not None
        else line.confidence
    )
    return 0.6 + 0.4 * max(0.0, min(100.0, confidence)) / 100.0


# --------------------------------------------------------------------------- the document


def _language(folded: list[str], given: str | None) -> str | None:
    if given in vocabularies():
        return given
    votes = language_votes(folded)
    return max(votes, key=lambda lang: votes[lang]) if votes else None


def _own_short(hits: list[LabelHit], language: str | None) -> list[LabelHit]:
    """``hits`` without the short labels (three letters or fewer) of other languages than
    the document's: Italian "del" is a date label, Spanish "del" is prose."""
    own = vocabularies().get(language or "")
    if own is None:
        return hits
    return [
        hit
        for hit in hits
        if len(hit.label) > 3 or hit.language == language or hit.label in own.labels[hit.kind]
    ]


def _best_tax(found: _Candidate | None, rated: _Candidate | None) -> _Candidate | None:
    """The labelled tax unless it is unsure and a row that checks twice (base x rate = tax,
    base + tax = total) says otherwise."""
    if rated is None or (found is not None and found.score >= 0.9):
        return found or rated
    return rated


def _kind(doc: _Document) -> str:
    receipt = sum(1 for hits in doc.hits for hit in hits if hit.kind == "receipt")
    numbered = any(
        hit.kind == "invoice_number" and _NUMBER_WORDS.search(hit.label)
        for hits in doc.hits
        for hit in hits
    )
    return "receipt" if receipt >= 2 and not numbered else "invoice"


def _field(name: str, candidate: _Candidate | None, scale: float) -> FieldValue:
    if candidate is None:
        return FieldValue()
    confidence = round(calibrate(name, max(0.0, min(1.0, candidate.score * scale))), 3)
    return FieldValue(
        value=candidate.value,
        confidence=confidence,
        unsure=confidence < SURE,
        source=candidate.line.text,
    )


def extract_lines(
    lines: list[DocLine], ocr_confidence: float = 100.0, language: str | None = None
) -> InvoiceFields:
    """Extract the fields from a document's :class:`DocLine` objects (see ``layout``).

    ``ocr_confidence`` (0..100, the document's mean word confidence) lowers every score of a
    poor scan; ``language`` (ISO 639-1, e.g. from OCR) picks the date order and is otherwise
    guessed from the labels found.
    """
    texts = [line.text for line in lines]
    folded = [fold(text) for text in texts]
    language = _language(folded, language)
    doc = _Document(lines, folded, [_own_short(find_labels(f), language) for f in folded], language)
    taxes = _taxes(doc)
    total, net, tax_amount, added_up = _total(doc, taxes)
    currency = _currency(doc, total)
    doc.order, doc.proven = read.date_order(
        texts, doc.language, currency.value if currency else None
    )
    date = _date(doc)
    scale = 0.7 + 0.3 * max(0.0, min(100.0, ocr_confidence)) / 100.0
    return InvoiceFields(
        kind=_kind(doc),
        language=doc.language,
        invoice_number=_field("invoice_number", _number(doc), scale),
        date=_field("date", date, scale),
        vendor=_field("vendor", _vendor(doc), scale),
        total=_field("total", total, scale),
        currency=_field("currency", currency, scale),
        tax=_field(
            "tax",
            _best_tax(
                _tax(doc, taxes, total, net, tax_amount, added_up),
                _summed_rows_tax(doc) or _rated_tax(doc, total),
            ),
            scale,
        ),
    )


def extract_pages(
    pages: Sequence[PageText], ocr_confidence: float = 100.0, language: str | None = None
) -> InvoiceFields:
    """Extract the fields from OCR pages, using their word boxes when they have them."""
    lines: list[DocLine] = []
    for page in pages:
        if page.words:
            lines.extend(page_lines(page.words, page.number, len(lines), page.height))
        else:
            lines.extend(text_lines(page.text.splitlines(), page.number, len(lines)))
    return extract_lines(lines, ocr_confidence, language)


def extract_invoice(
    text: str | Iterable[str], ocr_confidence: float = 100.0, language: str | None = None
) -> InvoiceFields:
    """Extract the fields from plain text (a string or its lines), without word boxes."""
    raw = text.splitlines() if isinstance(text, str) else list(text)
    return extract_lines(text_lines(raw), ocr_confidence, language)
