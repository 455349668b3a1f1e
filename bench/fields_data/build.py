"""Rebuild the real-document field evaluation set: ``documents/`` and ``truth.json``.

Run from the repository root with the public mirrors at hand::

    python bench/fields_data/build.py            # build, then check and print the counts
    python bench/fields_data/build.py --check    # only check what is already built
    python bench/fields_data/build.py --docs DIR # put (or find) the documents in DIR

It reads bare git mirrors of the public sources (``$FIELDS_MIRRORS``, default ``/work/.mirror``,
one ``owner+name/repo`` folder per repository), copies each chosen document byte for byte into
``documents/`` and writes ``truth.json``. Truth comes from three places: the sources'
machine-readable keys (SROIE key files, the CII XML embedded in Factur-X/ZUGFeRD PDFs, the
file names of the softmatic receipts), each checked against the text printed on the document;
and ``hand.json`` (fields read by a person off the rendered page) for documents without
trustworthy keys and for keys that disagreed with the print. Nothing here is needed at
benchmark time: the benchmark reads only ``truth.json`` and ``documents/``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIRRORS = Path(os.environ.get("FIELDS_MIRRORS", "/work/.mirror"))
DOCS = HERE / "documents"
FIELDS = ("invoice_number", "date", "vendor", "total", "currency", "tax")
MAX_BYTES = 30 * 1024 * 1024

SROIE = "zzzDavid/ICDAR-2019-SROIE"
ZUGFERD = "ZUGFeRD/corpus"
I2D = "invoice-x/invoice2data"
SOFTMATIC = "softmatic/vision-data"
TASCA = "TascaBarea/ParsearFacturas"
LICENSES = {
    SROIE: "ICDAR 2019 SROIE data (research use), redistributed in an MIT-licensed repository",
    ZUGFERD: "Apache-2.0 (ZUGFeRD/corpus); sample invoices of their respective publishers",
    I2D: "MIT (invoice2data test documents)",
    SOFTMATIC: "CC-BY-4.0 (softmatic/vision-data)",
    TASCA: "none stated (a business's received invoices, published in the repository)",
}

Doc = dict[str, Any]


# ---------------------------------------------------------------- mirrors


def _repo_dir(repo: str) -> Path:
    return MIRRORS / repo.replace("/", "+") / "repo"


def git_show(repo: str, path: str, rev: str = "HEAD") -> bytes:
    """Bytes of ``path`` at commit ``rev`` of the mirror; raises CalledProcessError when absent."""
    return subprocess.run(
        ["git", "-C", str(_repo_dir(repo)), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def git_head(repo: str) -> str:
    """The 40-hex commit of the mirror's HEAD."""
    out = subprocess.run(
        ["git", "-C", str(_repo_dir(repo)), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def git_ls(repo: str) -> list[tuple[int, str]]:
    """(size in bytes, path) of every blob at the mirror's HEAD."""
    out = subprocess.run(
        ["git", "-C", str(_repo_dir(repo)), "ls-tree", "-r", "-l", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        size = meta.split()[3]
        if size.isdigit():
            rows.append((int(size), path))
    return rows


def source(
    repo: str, path: str, license_: str | None = None, commit: str | None = None
) -> dict[str, str]:
    """The ``source`` record of a document taken from ``repo``'s mirror (at HEAD by default)."""
    return {
        "repo": repo,
        "path": path,
        "commit": commit or git_head(repo),
        "license": license_ or LICENSES[repo],
    }


# ---------------------------------------------------------------- value helpers

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}


def day_first_date(text: str) -> str | None:
    """ISO date from a day-first date string (25/12/2018, 25-12-18, 25 DEC 2018, 2018-12-25).

    Returns None when the string is not one of these forms or not a valid date.
    """
    text = text.strip().upper()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})", text)
        if m:
            d, mo, y = int(m[1]), int(m[2]), int(m[3])
        else:
            m = re.fullmatch(r"(\d{1,2})\s*([A-Z]{3})[A-Z]*\s*(\d{4})", text)
            if not m or m[2] not in MONTHS:
                return None
            d, mo, y = int(m[1]), MONTHS[m[2]], int(m[3])
        if y < 100:
            y += 2000
    if not (1 <= mo <= 12 and 1 <= d <= 31 and 1990 <= y <= 2030):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def money(value: str | float | Decimal) -> str:
    """A plain two-place decimal string ("1234.50") of an amount."""
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def printed_forms(amount: str) -> list[str]:
    """How an amount ("1234.50") may be printed: 1234.50, 1234,50, 1.234,50, 1,234.50."""
    neg = amount.startswith("-")
    whole, frac = amount.lstrip("-").split(".")
    grouped = f"{int(whole):,}"
    forms = {
        f"{whole}.{frac}",
        f"{whole},{frac}",
        f"{grouped}.{frac}",
        f"{grouped.replace(',', '.')},{frac}",
        f"{grouped.replace(',', ' ')},{frac}",
    }
    return sorted(("-" + f if neg else f) for f in forms)


def is_printed(amount: str, text: str) -> bool:
    """Whether ``amount`` appears in ``text`` in one of its printed forms (digits not glued)."""
    for form in printed_forms(amount):
        if re.search(r"(?<![\d.,])" + re.escape(form) + r"(?![\d])", text):
            return True
    return False


def norm(text: str) -> str:
    """Upper-case letters and digits only, for loose comparisons."""
    return re.sub(r"[^0-9A-Z]", "", text.upper())


# ---------------------------------------------------------------- SROIE receipts

SROIE_STEP = 1  # every receipt by id ...
SROIE_MAX_BYTES = 180_000  # ... whose scan is at most this big (keeps the set under 30 MB) ...
SROIE_TAKE = 50  # ... up to this many


def sroie() -> tuple[list[Doc], list[str]]:
    """Malaysian scanned receipts: truth from data/key, checked against data/box text lines."""
    sizes = {p: s for s, p in git_ls(SROIE) if p.startswith("data/img/")}
    docs: list[Doc] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for num in range(0, 1000, SROIE_STEP):
        if len(docs) >= SROIE_TAKE:
            break
        img = f"data/img/{num:03d}.jpg"
        if img not in sizes or sizes[img] > SROIE_MAX_BYTES:
            continue
        digest = hashlib.sha256(git_show(SROIE, img)).hexdigest()
        if digest in seen:
            dropped.append(f"sroie {num:03d}: same image as an earlier receipt")
            continue
        seen.add(digest)
        key = json.loads(git_show(SROIE, f"data/key/{num:03d}.json"))
        lines = [
            row.split(",", 8)[8]
            for row in git_show(SROIE, f"data/box/{num:03d}.csv").decode().splitlines()
            if row.count(",") >= 8
        ]
        text = "\n".join(lines)
        why = _sroie_problem(key, lines, text)
        if why:
            dropped.append(f"sroie {num:03d}: {why}")
            continue
        has_rm = re.search(r"(?<![A-Z])RM(?![A-Z])", text.upper()) is not None
        docs.append(
            {
                "id": f"sroie-{num:03d}",
                "ext": "jpg",
                "blob": (SROIE, img),
                "kind": "receipt",
                "language": "en",
                "media": "image",
                "source": source(SROIE, img),
                **_sroie_accept(key["company"], lines),
                "fields": {
                    "invoice_number": None,
                    "date": day_first_date(key["date"]),
                    "vendor": key["company"].strip(),
                    "total": _sroie_total(key["total"]),
                    "currency": "MYR" if has_rm else None,
                    "tax": None,
                },
            }
        )
    return docs, dropped


def _sroie_accept(company: str, lines: list[str]) -> dict[str, dict[str, list[str]]]:
    """Other forms of the company to accept: the transcribed line when it differs from the key.

    Key and transcription were typed separately and each has a few slips
    ("SDN BND" in a transcription, "ST TIONERY" in both), so neither alone is the print.
    """
    want = norm(company)
    if want in norm("".join(lines)):
        return {}
    candidates = lines + [a + " " + b for a, b in zip(lines, lines[1:], strict=False)]
    best = max(candidates, key=lambda ln: difflib.SequenceMatcher(None, want, norm(ln)).ratio())
    return {"accept": {"vendor": [best.strip()]}}


def _sroie_total(raw: str) -> str:
    """The key's total as a two-place decimal: "RM5.00", "$8.20" and "1,007.50" are accepted.

    Raises ArithmeticError (decimal.InvalidOperation) when it is not an amount.
    """
    return money(re.sub(r"^(RM|\$)\s*", "", raw.strip()).replace(",", ""))


def _sroie_problem(key: dict[str, str], lines: list[str], text: str) -> str | None:
    """Why a SROIE key cannot be trusted against its box text, or None when it can."""
    if not all(key.get(k, "").strip() for k in ("company", "date", "total")):
        return "key lacks a field"
    if day_first_date(key["date"]) is None:
        return f"date {key['date']!r} not day-first"
    if key["date"].strip() not in text:
        return f"date {key['date']!r} not in box text"
    try:
        total = _sroie_total(key["total"])
    except ArithmeticError:
        return f"total {key['total']!r} not a number"
    if not is_printed(total, text):
        return f"total {key['total']!r} not in box text"
    company = norm(key["company"])
    best = max(
        (difflib.SequenceMatcher(None, company, norm(ln)).ratio() for ln in lines), default=0
    )
    joined = max(
        (
            difflib.SequenceMatcher(None, company, norm(a + b)).ratio()
            for a, b in zip(lines, lines[1:], strict=False)
        ),
        default=0,
    )
    if max(best, joined) < 0.8:
        return f"company {key['company']!r} not found in box text"
    return None


# ---------------------------------------------------------------- Factur-X / ZUGFeRD invoices


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element | None, name: str) -> ET.Element | None:
    if root is None:
        return None
    for el in root.iter():
        if el is not root and _local(el.tag) == name:
            return el
    return None


def _text(root: ET.Element | None, name: str) -> str | None:
    el = _find(root, name)
    if el is None:
        return None
    return "".join(el.itertext()).strip() or None


def _pdf_text_and_xml(data: bytes) -> tuple[str, bytes | None]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    xml = None
    for i in range(pdf.count_attachments()):
        att = pdf.get_attachment(i)
        if att.get_name().lower().endswith(".xml"):
            xml = bytes(att.get_data())
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    return text, xml


# Per-file corrections where the embedded XML disagrees with what the page prints.
ZUGFERD_FIX: dict[str, dict[str, Any]] = {
    # XML: 20131122-42, 2014-11-08, 119.00/19.00; the page: Rechnung Nr. 42 of 31.01.2014.
    "ZUGFeRDv1/correct/Konik/acme_invoice-42_ZUGFeRD.pdf": {
        "invoice_number": "42",
        "date": "2014-01-31",
        "vendor": "Acme GmbH",
        "total": "1589.80",
        "tax": "269.80",
    },
}
# Other printed forms of a seller's name that a reader would also take as the vendor.
ZUGFERD_ACCEPT: dict[str, list[str]] = {
    "Physiotherapeutin": ["Tanja Tinder", "Physiotherapeutin Tanja Tinder"],
}
# Groups of one layout with many numbers: keep at most this many per (seller, total).
ZUGFERD_PER_LAYOUT = 2
ZUGFERD_FRENCH = "FNFE-factur-x-examples"
ZUGFERD_MAX_BYTES = 400_000  # the 0.6-2 MB renderings add no layout the small ones lack


def zugferd() -> tuple[list[Doc], list[str]]:
    """German and French Factur-X/ZUGFeRD PDFs: truth from the embedded CII, checked on the page.

    One copy per distinct (invoice number, seller, total); the smallest file of each wins.
    """
    rows = sorted(
        (size, path)
        for size, path in git_ls(ZUGFERD)
        if path.lower().endswith(".pdf")
        and not path.startswith("unstructured/")
        and size <= ZUGFERD_MAX_BYTES
    )
    seen: set[tuple[str, str, str]] = set()
    per_layout: Counter[tuple[str, str]] = Counter()
    docs: list[Doc] = []
    dropped: list[str] = []
    for _size, path in rows:
        data = git_show(ZUGFERD, path)
        try:
            text, xml = _pdf_text_and_xml(data)
            fields = _cii_fields(xml, text) if xml else None
        except Exception as exc:  # noqa: BLE001 - a broken sample is dropped, with the reason
            dropped.append(f"zugferd {path}: {exc}")
            continue
        if fields is None:
            dropped.append(f"zugferd {path}: no CII XML")
            continue
        fields.update(ZUGFERD_FIX.get(path, {}))
        accept = ZUGFERD_ACCEPT.get(str(fields["vendor"]))
        problem = _printed_problem(fields, text)
        if problem:
            dropped.append(f"zugferd {path}: {problem}")
            continue
        # Credit-note twins print the same amounts with and without a sign: one document.
        key = (str(fields["invoice_number"]), "", str(fields["total"]).lstrip("-"))
        layout = (norm(str(fields["vendor"])), key[2])
        if key in seen:
            continue
        if per_layout[layout] >= ZUGFERD_PER_LAYOUT:
            dropped.append(f"zugferd {path}: layout {layout} already kept twice")
            seen.add(key)
            continue
        seen.add(key)
        per_layout[layout] += 1
        stem = re.sub(r"[^a-z0-9]+", "-", Path(path).stem.lower()).strip("-")
        docs.append(
            {
                "id": f"zugferd-{stem}"[:60],
                "ext": "pdf",
                "blob": (ZUGFERD, path),
                "kind": "invoice",
                "language": _zugferd_language(path, text),
                "media": "pdf",
                "source": source(ZUGFERD, path),
                "fields": fields,
                **({"accept": {"vendor": accept}} if accept else {}),
            }
        )
    return docs, dropped


def _zugferd_language(path: str, text: str) -> str:
    """German, or for the FNFE samples French unless the page is the English (EU) variant."""
    if ZUGFERD_FRENCH not in path:
        return "de"
    return "en" if "Invoice Date" in text else "fr"


def _cii_fields(xml: bytes, text: str) -> dict[str, Any] | None:
    """The six fields from a CII document, with the vendor and total in their printed form."""
    root = ET.fromstring(xml)
    header = None
    for el in root.iter():
        if _local(el.tag) in ("ExchangedDocument", "HeaderExchangedDocument"):
            header = el
            break
    if header is None:
        return None
    raw_date = _text(_find(header, "IssueDateTime"), "DateTimeString") or ""
    date = None
    if re.fullmatch(r"\d{8}", raw_date):
        date = f"{raw_date[:4]}-{raw_date[4:6]}-{raw_date[6:]}"
    seller = _find(root, "SellerTradeParty")
    vendor = _text(seller, "Name")
    grand = _text(root, "GrandTotalAmount")
    due = _text(root, "DuePayableAmount")
    currency = _text(root, "InvoiceCurrencyCode")
    tax = None
    for el in root.iter():
        if _local(el.tag) == "TaxTotalAmount" and el.get("currencyID") in (None, currency):
            tax = (el.text or "").strip()
            break
    total = None
    # The amount to pay as printed: the due amount when it is printed, else the grand total.
    for cand in (due, grand):
        if cand and is_printed(money(cand), text):
            total = money(cand)
            break
    if vendor:
        vendor = _printed_vendor(vendor, text)
    return {
        "invoice_number": _text(header, "ID"),
        "date": date,
        "vendor": vendor,
        "total": total,
        "currency": currency if currency and _currency_printed(currency, text) else None,
        "tax": money(tax) if tax else None,
    }


CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}


def _currency_printed(code: str, text: str) -> bool:
    """Whether the document shows the currency, by its ISO code or its sign."""
    sign = CURRENCY_SIGNS.get(code)
    return re.search(rf"\b{code}\b", text) is not None or bool(sign and sign in text)


def _printed_vendor(vendor: str, text: str) -> str | None:
    """The seller name as printed: the XML name if printed (line breaks as spaces), else None."""
    lines = [ln for ln in vendor.splitlines() if ln.strip()]
    if lines and lines[0].startswith("GLN "):  # a GLN and supplier number glued before the name
        lines = lines[-1:]
    flat = " ".join(" ".join(lines).split())
    page = " ".join(text.split())
    found = re.search(re.escape(flat), page, re.IGNORECASE)
    return found[0] if found else None


def _printed_problem(fields: dict[str, Any], text: str) -> str | None:
    """Why a document's truth is not confirmed by its printed text, or None."""
    if not fields.get("vendor"):
        return "seller name not printed"
    if not fields.get("total"):
        return "no printed total"
    number = fields.get("invoice_number")
    if not number or number not in text:
        return f"invoice number {number!r} not printed"
    date = fields.get("date")
    if not date:
        return "no issue date"
    y, m, d = date.split("-")
    forms = (f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{d}-{m}-{y}", date, f"{m}/{d}/{y}")
    if not any(f in text for f in forms):
        return f"date {date} not printed"
    if fields.get("tax") and not is_printed(fields["tax"], text):
        fields["tax"] = None
    return None


# ---------------------------------------------------------------- softmatic German receipts

SOFTMATIC_VENDOR = {
    "aldi": "ALDI",
    "apotheke": "DELPHIN APOTHEKE",
    "hornbach": "HORNBACH Baumarkt AG",
    "ikea": "IKEA Deutschland GmbH & Co. KG",
    "lidl": "Lidl",
    "marktkauf": "Marktkauf",
    "real": "real GmbH",
    "roller": "ROLLER",
    "rossmann": "ROSSMANN",
    "toom": "toom Baumarkt GmbH",
    "mediamarkt": "MEDIA MARKT",
    "thalia": "Thalia",
    "dm": "dm drogerie markt",
    "kaufland": "Kaufland",
    "saturn": "SATURN",
}
# Where the file name disagrees with the print (checked on the scans), the print wins.
SOFTMATIC_FIX: dict[str, dict[str, str]] = {
    "2D/Receipts/A/real_25022020_03_00547.jpg": {"date": "2020-02-29"},  # printed 29.02.20
}
SOFTMATIC_FOLDERS = ("2D/Receipts/A/",)  # the cropped 300 dpi scans; B-D are 1-3 MB photos
SOFTMATIC_MAX_BYTES = 520_000  # the few larger scans would push the set over 30 MB


def softmatic() -> tuple[list[Doc], list[str]]:
    """German shop receipts (flatbed scans): truth from the file names, vendor as printed."""
    docs: list[Doc] = []
    dropped: list[str] = []
    for size, path in sorted(git_ls(SOFTMATIC), key=lambda r: r[1]):
        if not path.endswith(".jpg") or not path.startswith(SOFTMATIC_FOLDERS):
            continue
        if size > SOFTMATIC_MAX_BYTES:
            dropped.append(f"softmatic {path}: {size} bytes, over {SOFTMATIC_MAX_BYTES}")
            continue
        stem = Path(path).stem
        m = re.fullmatch(r"([a-z]+)_(\d{2})(\d{2})(\d{4})_(?:\d+_)?(\d+)", stem)
        if not m or m[1] not in SOFTMATIC_VENDOR:
            dropped.append(f"softmatic {path}: name not merchant_date_items_amount")
            continue
        cents = int(m[5])
        docs.append(
            {
                "id": f"softmatic-{stem.replace('_', '-')}",
                "ext": "jpg",
                "blob": (SOFTMATIC, path),
                "kind": "receipt",
                "language": "de",
                "media": "image",
                "source": source(SOFTMATIC, path),
                "fields": {
                    "invoice_number": None,
                    "date": f"{m[4]}-{m[3]}-{m[2]}",
                    "vendor": SOFTMATIC_VENDOR[m[1]],
                    "total": money(Decimal(cents) / 100),
                    "currency": "EUR",
                    "tax": None,
                }
                | SOFTMATIC_FIX.get(path, {}),
            }
        )
    return docs, dropped


# ---------------------------------------------------------------- Spanish supplier documents

# Per family: how many to keep (the first in path order that check), and the kind.
TASCA_FAMILIES = {"ceres": (14, "invoice"), "mercadona": (6, "invoice"), "bm": (16, "receipt")}


def _es_amount(text: str) -> str:
    """Two-place decimal of a Spanish-printed amount ("2.421,12", "220,6", "45.71")."""
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return money(text)


def tasca() -> tuple[list[Doc], list[str]]:
    """Spanish invoices and tickets a Madrid bar received, whose PDFs carry their text.

    Three families are read from the text layer with checks that the numbers add up:
    CERES CERVEZA invoices (base + VAT = total), MERCADONA invoices for a simplified
    ticket (base + VAT = total) and BM supermarket tickets (the card slip repeats the total).
    Files are taken from every commit of the repository (some were removed later).
    """
    commits = subprocess.run(
        [
            "git",
            "-C",
            str(_repo_dir(TASCA)),
            "log",
            "--all",
            "--diff-filter=A",
            "--name-only",
            "--format=C %H",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    added: dict[str, str] = {}
    commit = ""
    for line in commits.splitlines():
        if line.startswith("C "):
            commit = line[2:]
        elif line.lower().endswith(".pdf") and line not in added:
            added[line] = commit
    families: dict[str, list[str]] = defaultdict(list)
    for path in sorted(added):
        name = Path(path).name
        if "CERES RC" in name:
            families["ceres"].append(path)
        elif "MERCADONA" in name:
            families["mercadona"].append(path)
        elif " BM " in name and ("stage_fix_1/" in path or "samples/" in path):
            families["bm"].append(path)
    docs: list[Doc] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for family, paths in families.items():
        cap, kind = TASCA_FAMILIES[family]
        kept = 0
        for path in paths:
            if kept >= cap:
                break
            data = git_show(TASCA, path, added[path])
            digest = hashlib.sha256(data).hexdigest()
            text = _pdf_text_and_xml(data)[0]
            fields = _tasca_fields(family, text) if text.strip() else None
            if digest in seen or fields is None:
                dropped.append(f"tasca {path}: no text layer, duplicate or numbers do not add up")
                continue
            seen.add(digest)
            kept += 1
            stem = re.sub(r"[^a-z0-9]+", "-", Path(path).stem.lower()).strip("-")
            docs.append(
                {
                    "id": f"es-{family}-{stem}"[:60],
                    "ext": "pdf",
                    "blob": (TASCA, path, added[path]),
                    "kind": kind,
                    "language": "es",
                    "media": "pdf",
                    "source": source(TASCA, path, commit=added[path]),
                    "fields": fields,
                    **({"accept": TASCA_ACCEPT[family]} if family in TASCA_ACCEPT else {}),
                }
            )
    return docs, dropped


TASCA_ACCEPT = {
    "ceres": {"vendor": ["CERES CERVEZA S.L.", "CERES CERVEZA SL", "CERES CERVEZA S L"]},
    "bm": {"vendor": ["BM", "DISTRIBUCION SUPERMERCADOS, SL"]},
    "mercadona": {"vendor": ["MERCADONA"]},
}


def _tasca_fields(family: str, text: str) -> dict[str, Any] | None:
    """The fields of one Tasca Barea document from its text, or None when they do not check."""
    if family == "ceres":
        head = re.search(r"(\d{7}) (\d\d)/(\d\d)/(\d{4}) B2B", text)
        total = re.search(r"Importe TOTAL \.+\s*(?:NIF: \S+\s*)?([\d.,]+)", text)
        tax = re.search(r"Total IMPUESTOS \.+ ([\d.,]+)", text)
        base = re.search(r"Total BASE IMPONIBLE \.+ ([\d.,]+)", text)
        if not (head and total and tax and base):
            return None
        if Decimal(_es_amount(base[1])) + Decimal(_es_amount(tax[1])) != Decimal(
            _es_amount(total[1])
        ):
            return None
        vendor = re.search(r"CERES CERVEZA S\.? ?L\.?", text)
        return {
            "invoice_number": head[1],
            "date": f"{head[4]}-{head[3]}-{head[2]}",
            "vendor": vendor[0] if vendor else None,
            "total": _es_amount(total[1]),
            "currency": "EUR" if "€" in text else None,
            "tax": _es_amount(tax[1]),
        }
    if family == "mercadona":
        head = re.search(r"Nº Factura: (\S+) Fecha Factura:\s*(\d\d)/(\d\d)/(\d{4})", text)
        sums = re.search(r"TOTAL \(€\) ([\d.,]+) ([\d.,]+) ([\d.,]+)", text)
        total = re.search(r"Total Factura ([\d.,]+)€", text)
        if not (head and sums and total) or _es_amount(sums[3]) != _es_amount(total[1]):
            return None
        if Decimal(_es_amount(sums[1])) + Decimal(_es_amount(sums[2])) != Decimal(
            _es_amount(total[1])
        ):
            return None
        return {
            "invoice_number": head[1],
            "date": f"{head[4]}-{head[3]}-{head[2]}",
            "vendor": "MERCADONA S.A.",
            "total": _es_amount(total[1]),
            "currency": "EUR",
            "tax": _es_amount(sums[2]),
        }
    when = re.search(r"(\d\d)/(\d\d)/(\d\d) \d{1,2}:\d\d Caja", text)
    total = re.search(r"TOTAL COMPRA \(iva incl\.\)\s+([\d.]+)", text)
    slip = re.search(r"IMPORTE\.+:\**([\d.,]+) EUR", text)
    number = re.search(r"Datos FACTURA: (\w+)", text)
    if not (when and total and slip) or _es_amount(slip[1]) != money(total[1]):
        return None
    return {
        "invoice_number": number[1] if number else None,
        "date": f"20{when[3]}-{when[2]}-{when[1]}",
        "vendor": "BM SUPERMERCADOS",
        "total": money(total[1]),
        "currency": "EUR",
        "tax": None,
    }


# ---------------------------------------------------------------- hand-labelled documents


def hand() -> tuple[list[Doc], list[str]]:
    """Documents labelled by a person (hand.json): any repository, its commit recorded there."""
    docs = []
    for entry in json.loads((HERE / "hand.json").read_text()):
        repo, path = entry["source"]["repo"], entry["source"]["path"]
        docs.append(
            {
                "id": entry["id"],
                "ext": Path(path).suffix.lstrip(".").lower(),
                "blob": (repo, path, entry["source"]["commit"]),
                "kind": entry["kind"],
                "language": entry["language"],
                "media": "pdf" if path.lower().endswith(".pdf") else "image",
                "source": entry["source"],
                "fields": entry["fields"],
                **({"accept": entry["accept"]} if "accept" in entry else {}),
                **({"note": entry["note"]} if "note" in entry else {}),
            }
        )
    return docs, []


# ---------------------------------------------------------------- split and write


def split(docs: list[Doc]) -> None:
    """Mark a third of each language "held", the rest "tune"; deterministic and vendor-grouped.

    Documents of one vendor stay on one side (so a layout seen in tuning is not scored as
    held-out). Within a language, vendor groups are taken in sha256 order of their name
    while the held count is under a third (at least one group per language), preferring
    groups that add a kind or medium the language's held side still lacks.
    """
    by_lang: dict[str, list[Doc]] = defaultdict(list)
    for d in docs:
        d["split"] = "tune"
        by_lang[d["language"]].append(d)
    for lang_docs in by_lang.values():
        groups: dict[str, list[Doc]] = defaultdict(list)
        for d in lang_docs:
            groups[norm(d["fields"]["vendor"] or d["id"])[:12]].append(d)
        order = sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        want = math.ceil(len(lang_docs) / 3)
        kinds = {(d["kind"], d["media"]) for d in lang_docs}
        held: list[Doc] = []
        while order and len(held) < want:
            have = {(d["kind"], d["media"]) for d in held}
            lacking = kinds - have
            room = want - len(held)
            pick = next(
                (
                    g
                    for g in order
                    if {(d["kind"], d["media"]) for d in groups[g]} & lacking
                    and len(groups[g]) <= max(room, 1) + 2
                ),
                None,
            )
            if pick is None:
                pick = next((g for g in order if len(groups[g]) <= room + 2), order[0])
            order.remove(pick)
            held.extend(groups[pick])
        for d in held:
            d["split"] = "held"


def write(docs: list[Doc], docs_dir: Path) -> None:
    """Copy every document into ``docs_dir`` and write truth.json (sorted by id)."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for d in docs:
        name = f"{d['id']}.{d['ext']}"
        wanted.add(name)
        data = git_show(*d["blob"])
        target = docs_dir / name
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
        d["file"] = f"documents/{name}"
        d["sha256"] = hashlib.sha256(data).hexdigest()
    for stale in docs_dir.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    keys = ("id", "file", "sha256", "kind", "language", "media", "split", "source", "fields")
    out = [
        {k: d[k] for k in keys} | {k: d[k] for k in ("accept", "note") if k in d}
        for d in sorted(docs, key=lambda d: d["id"])
    ]
    (HERE / "truth.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- check


def check(docs_dir: Path) -> int:
    """Verify truth.json against ``docs_dir`` and print the counts; returns the problem count."""
    entries = json.loads((HERE / "truth.json").read_text())
    problems = []
    ids = Counter(e["id"] for e in entries)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    shas = Counter(e.get("sha256") for e in entries)
    problems += [f"duplicate document {s}" for s, n in shas.items() if n > 1]
    total_bytes = 0
    for e in entries:
        f = docs_dir / Path(e["file"]).name
        if not f.is_file():
            problems.append(f"{e['id']}: missing {e['file']}")
            continue
        data = f.read_bytes()
        total_bytes += len(data)
        if hashlib.sha256(data).hexdigest() != e.get("sha256"):
            problems.append(f"{e['id']}: sha256 differs")
        problems += [f"{e['id']}: {p}" for p in _entry_problems(e)]
    if total_bytes > MAX_BYTES:
        problems.append(f"documents/ holds {total_bytes} bytes, over {MAX_BYTES}")
    held = [e for e in entries if e["split"] == "held"]
    print(f"{len(entries)} documents ({total_bytes / 1e6:.1f} MB), {len(held)} held out")
    _table(entries)
    langs = Counter(e["language"] for e in held)
    if len(held) < 60:
        problems.append(f"only {len(held)} held-out documents")
    if len(langs) < 4:
        problems.append(f"held-out languages {sorted(langs)}")
    for lang in {e["language"] for e in entries} - set(langs):
        problems.append(f"language {lang} has no held-out document")
    for what in ("kind", "media"):
        if len({e[what] for e in held}) < 2:
            problems.append(f"held-out set has one {what} only")
    for p in problems:
        print("PROBLEM", p)
    return len(problems)


def _entry_problems(e: Doc) -> list[str]:
    out = []
    if e["kind"] not in ("receipt", "invoice"):
        out.append(f"kind {e['kind']}")
    if e["media"] not in ("pdf", "image"):
        out.append(f"media {e['media']}")
    if e["split"] not in ("tune", "held"):
        out.append(f"split {e['split']}")
    if not re.fullmatch(r"[a-z]{2}", e["language"]):
        out.append(f"language {e['language']}")
    src = e["source"]
    if not (src.get("repo") and src.get("path") and re.fullmatch(r"[0-9a-f]{40}", src["commit"])):
        out.append("source incomplete")
    f = e["fields"]
    if set(f) != set(FIELDS):
        out.append(f"fields {sorted(f)}")
    for k in ("total", "tax"):
        if f.get(k) is not None and not re.fullmatch(r"-?\d+\.\d\d", f[k]):
            out.append(f"{k} {f[k]!r}")
    if f.get("date") is not None and not re.fullmatch(r"\d{4}-\d\d-\d\d", f["date"]):
        out.append(f"date {f['date']!r}")
    if f.get("currency") is not None and not re.fullmatch(r"[A-Z]{3}", f["currency"]):
        out.append(f"currency {f['currency']!r}")
    for k in ("invoice_number", "vendor"):
        if f.get(k) is not None and (not isinstance(f[k], str) or not f[k].strip()):
            out.append(f"{k} {f[k]!r}")
    if all(v is None for v in f.values()):
        out.append("no field annotated")
    return out


def _table(entries: list[Doc]) -> None:
    """Print counts per language x kind x media x split as a Markdown table."""
    cells: Counter[tuple[str, str, str, str]] = Counter(
        (e["language"], e["kind"], e["media"], e["split"]) for e in entries
    )
    combos = sorted({k[:3] for k in cells})
    print("| language | kind | media | tune | held | all |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for lang, kind, media in combos:
        t, h = cells[(lang, kind, media, "tune")], cells[(lang, kind, media, "held")]
        print(f"| {lang} | {kind} | {media} | {t} | {h} | {t + h} |")
    for lang in sorted({e["language"] for e in entries}):
        t = sum(1 for e in entries if e["language"] == lang and e["split"] == "tune")
        h = sum(1 for e in entries if e["language"] == lang and e["split"] == "held")
        print(f"| **{lang}** | all | all | {t} | {h} | {t + h} |")
    t = sum(1 for e in entries if e["split"] == "tune")
    print(f"| **all** | all | all | {t} | {len(entries) - t} | {len(entries)} |")
    fields = Counter(k for e in entries for k, v in e["fields"].items() if v is not None)
    print("annotated fields:", ", ".join(f"{k} {fields[k]}" for k in FIELDS))


def main(argv: list[str]) -> int:
    """Build (unless --check) and check the set; returns the number of problems."""
    docs_dir = Path(argv[argv.index("--docs") + 1]) if "--docs" in argv else DOCS
    if "--check" not in argv:
        docs: list[Doc] = []
        for build in (sroie, zugferd, softmatic, tasca, hand):
            got, dropped = build()
            docs += got
            for why in dropped:
                print("dropped", why)
        split(docs)
        write(docs, docs_dir)
    return check(docs_dir)


if __name__ == "__main__":
    sys.exit(min(main(sys.argv[1:]), 1))
