"""Label vocabularies of invoices and receipts, per language, and finding labels in a line.

The words live in data files, ``runtime/ocr/labels/<language>.json``, one per language, each
with these lists (plus the language's ``date_order`` and ``decimal`` mark):

- ``invoice_number``, ``date``, ``total_due``, ``total_strong``, ``total``, ``net``, ``tax``,
  ``vendor``: labels that a field's value follows (to the right or below); the total's three
  tiers are the amount to pay, a gross total, and a bare "total";
- ``other_number``: numbers that are not the invoice's (customer, order, tax id), whose
  longer labels hide a bare "Number" inside them;
- ``other_date``: dates that are not the issue date (due, delivery, period);
- ``not_total``: amounts that are not the total (subtotal, change, cash given);
- ``customer``: the start of the buyer's block; ``heading``: document titles, never a vendor;
- ``receipt``: words that make a document a receipt rather than an invoice;
- ``company``: legal-form suffixes (GmbH, Ltd, S.L., SDN BHD) that mark a company name;
- ``business``: words naming a kind of business ("Restaurant", "Supermarket") that mark a
  name too, but not a legal one.

A line is matched after :func:`fold` (lower case, accents and the degree sign folded), exact
labels first; labels of seven letters or more also match with one OCR slip in them
(RapidFuzz's partial ratio), so "lnvoice No" still labels an invoice number.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

LABELS_DIR = Path(__file__).with_name("labels")
KINDS = (
    "invoice_number",
    "other_number",
    "date",
    "other_date",
    "total_due",
    "total_strong",
    "total",
    "not_total",
    "net",
    "tax",
    "vendor",
    "customer",
    "heading",
    "receipt",
    "company",
    "business",
    "currency",
    "tax_included",
    "number_prefix",
    "rounding",
    "tendered",
    "change",
)
# Kinds whose one-word labels also match letter-spaced ("T O T A L").
_SPACED_KINDS = ("total_due", "total_strong", "total", "net", "tax")
# Fuzzy matches need this many folded characters, and this RapidFuzz score (0..100).
_FUZZY_MIN_CHARS = 7
_FUZZY_SCORE = 87.0


@dataclass(frozen=True)
class Vocabulary:
    """One language's labels: ``labels[kind]`` is a tuple of folded label strings."""

    language: str
    date_order: str  # "DMY" or "MDY": how numeric dates read when both orders are valid
    decimal: str  # "." or ","
    labels: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class LabelHit:
    """A label found in a line: its kind, language, and where it is (folded-text offsets)."""

    kind: str
    language: str
    label: str
    start: int
    end: int
    score: float  # 1.0 for an exact match, less for a fuzzy one


def fold(text: str) -> str:
    """Lower-case ``text``, drop accents and map ``°``/``º`` to ``o``; keeps its length.

    Keeping the length means offsets into the folded text are offsets into the original.
    """
    out = []
    for ch in text:
        lower = ch.lower()
        ch = lower if len(lower) == 1 else ch
        if ch in "°º":
            out.append("o")
            continue
        base = unicodedata.normalize("NFKD", ch)
        out.append(base[0] if base and base[0].isascii() else ch)
    return "".join(out)


@functools.cache
def vocabularies() -> dict[str, Vocabulary]:
    """Load every ``labels/<language>.json`` once; return them by ISO 639-1 code."""
    found: dict[str, Vocabulary] = {}
    for path in sorted(LABELS_DIR.glob("??.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        found[raw["language"]] = Vocabulary(
            language=raw["language"],
            date_order=raw.get("date_order", "DMY"),
            decimal=raw.get("decimal", "."),
            labels={kind: tuple(fold(label) for label in raw.get(kind, ())) for kind in KINDS},
        )
    return found


@functools.cache
def currencies() -> dict[str, Any]:
    """The currency table, ``labels/currencies.json``: ISO codes, symbols, ambiguous signs."""
    data: dict[str, Any] = json.loads((LABELS_DIR / "currencies.json").read_text(encoding="utf-8"))
    return data


def _label_pattern(label: str) -> str:
    # Between a label's words OCR and layouts put any run of spaces, dots, dashes or colons.
    parts = [re.escape(part) for part in re.split(r"[\s.\-:]+", label) if part]
    return r"[\s.\-:/]*".join(parts)


@functools.cache
def _patterns() -> dict[str, list[tuple[re.Pattern[str], dict[str, str]]]]:
    """Per kind, one alternation of every language's labels (longest first) -> language."""
    compiled: dict[str, list[tuple[re.Pattern[str], dict[str, str]]]] = {}
    for kind in KINDS:
        owners: dict[str, str] = {}
        for vocabulary in vocabularies().values():
            for label in vocabulary.labels[kind]:
                owners.setdefault(label, vocabulary.language)
        labels = sorted(owners, key=len, reverse=True)
        if not labels:
            compiled[kind] = []
            continue
        alternatives = [_label_pattern(label) for label in labels]
        if kind in _SPACED_KINDS:
            # A summary table's header letter-spaced for width: "T O T A L", "S U M M E".
            alternatives += [
                " ".join(re.escape(ch) for ch in label)
                for label in labels
                if len(label) >= 4 and label.isalpha()
            ]
        body = "|".join(f"(?:{alternative})" for alternative in alternatives)
        pattern = re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z])")
        compiled[kind] = [(pattern, owners)]
    return compiled


@functools.cache
def _fuzzy_labels() -> dict[str, tuple[tuple[str, str], ...]]:
    return {
        kind: tuple(
            (label, vocabulary.language)
            for vocabulary in vocabularies().values()
            for label in vocabulary.labels[kind]
            if len(label.replace(" ", "")) >= _FUZZY_MIN_CHARS
        )
        for kind in KINDS
    }


def _owner(text: str, owners: dict[str, str]) -> tuple[str, str]:
    key = re.sub(r"[\s.\-:/]+", " ", text).strip()
    for label, language in owners.items():
        if re.sub(r"[\s.\-:]+", " ", label).strip() == key:
            return label, language
    for label, language in owners.items():  # letter-spaced: "t o t a l"
        if label == key.replace(" ", ""):
            return label, language
    return key, next(iter(owners.values()))


def find_labels(folded: str, kinds: tuple[str, ...] = KINDS) -> list[LabelHit]:
    """Return the labels of ``kinds`` in a folded line, a longer label hiding a shorter one.

    "Subtotal" hides "total", "Total excl. VAT" hides "total": a hit is dropped when a longer
    hit of another kind overlaps it. Fuzzy hits are only looked for when a kind has no exact
    hit in the line.
    """
    hits: list[LabelHit] = []
    for kind in kinds:
        exact = False
        for pattern, owners in _patterns()[kind]:
            for match in pattern.finditer(folded):
                label, language = _owner(match.group(0), owners)
                hits.append(LabelHit(kind, language, label, match.start(), match.end(), 1.0))
                exact = True
        if exact:
            continue
        for label, language in _fuzzy_labels()[kind]:
            if len(folded) < len(label) - 1:
                continue
            found = fuzz.partial_ratio_alignment(label, folded, score_cutoff=_FUZZY_SCORE)
            if found is None:
                continue
            start, end = found.dest_start, found.dest_end
            # A fuzzy label must start and end on word edges, like an exact one.
            if (start > 0 and folded[start - 1].isalnum()) or (
                end < len(folded) and folded[end].isalpha()
            ):
                continue
            hits.append(LabelHit(kind, language, label, start, end, found.score / 100.0))
            break
    kept = []
    for hit in hits:
        # A fuzzy hit (an OCR slip's guess) never hides an exact one: "factura 1" is not
        # "facturar a".
        longer = any(
            other.kind != hit.kind
            and other.kind != "tax_included"  # it qualifies a total: "Total Incl.of GST"
            and other.start < hit.end
            and hit.start < other.end
            and other.end - other.start > hit.end - hit.start
            and other.score >= hit.score
            for other in hits
        )
        # Nor does a date label's guess stand where an exact label reads: "fecha de factura"
        # is not the fuzzy "fecha de lectura" (the exact "invoice" of "Invoice Dale:" covers
        # too little of "invoice date" to hide it). (A total's may: Malaysian receipts' "Net Total"
        # is the fuzzy "nett total" they pay, not the exact "net total" before tax.)
        read_exactly = (
            hit.score < 1.0
            and hit.kind in ("date", "other_date")
            and any(
                other.score == 1.0
                and other.kind != hit.kind
                and min(other.end, hit.end) - max(other.start, hit.start)
                >= 0.8 * (hit.end - hit.start)
                for other in hits
            )
        )
        if not longer and not read_exactly:
            kept.append(hit)
    kept.sort(key=lambda hit: (hit.start, -hit.end))
    return kept


def language_votes(folded_lines: list[str]) -> dict[str, int]:
    """Count label hits per language over a document's lines (a fallback language guess)."""
    votes: dict[str, int] = {}
    for line in folded_lines:
        for hit in find_labels(
            line, ("invoice_number", "date", "total_due", "total_strong", "net", "tax")
        ):
            votes[hit.language] = votes.get(hit.language, 0) + 1
    return votes
