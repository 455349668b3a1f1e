"""Vendor templates in invoice2data's YAML format: an optional layer over the generic extractor.

Users who receive the same vendor's invoices every month can pin its fields with a template,
as invoice2data users do; robofleet reads the same files. Point the OCR module at a folder
(``options.templates_dir``); none is used by default. A template applies when all of its
``keywords`` (regular expressions) are found in the document's text and none of its
``exclude_keywords``; its fields then replace the generic extractor's, with confidence 0.99.

Supported, of invoice2data's format::

    issuer: Acme Hosting GmbH            # -> vendor
    keywords: [Acme Hosting, Rechnung]
    exclude_keywords: [Gutschrift]
    fields:
      amount: Gesamtbetrag\\s+([\\d.,]+)    # -> total (a regex with one group)
      invoice_number: {parser: regex, regex: 'Rechnungsnr\\.?\\s*(\\S+)'}
      date: Datum:\\s*(\\d+\\.\\d+\\.\\d+)
      amount_tax: MwSt\\s+([\\d.,]+)       # -> tax (also vat)
      static_currency: EUR               # static_<field>: a fixed value
    options:
      currency: EUR
      date_formats: ['%d.%m.%Y']
      decimal_separator: ','
      remove_whitespace: false
      lowercase: false
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import regex
import yaml

from runtime.ocr.values import dates

log = logging.getLogger(__name__)

# A template's patterns are the user's, run on a document's text: one that backtracks
# catastrophically (``(a+)+$``) would hold the worker until its health check fails. They run
# under the ``regex`` library (re's syntax, plus a timeout); past this many seconds per search
# the template is skipped for that document with a warning.
PATTERN_TIMEOUT_S = 0.5


def _search(pattern: str, text: str) -> regex.Match[str] | None:
    """``regex.search`` with :data:`PATTERN_TIMEOUT_S`; raises TimeoutError past it."""
    return regex.search(pattern, text, timeout=PATTERN_TIMEOUT_S)


# invoice2data's field names -> robofleet's.
_NAMES = {
    "issuer": "vendor",
    "amount": "total",
    "invoice_number": "invoice_number",
    "date": "date",
    "currency": "currency",
    "amount_tax": "tax",
    "vat": "tax",
    "tax": "tax",
}


@dataclass
class Template:
    """One vendor's template: when it applies and how its fields are read."""

    name: str
    keywords: list[str]
    exclude_keywords: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # robofleet field -> regex
    static: dict[str, str] = field(default_factory=dict)  # robofleet field -> value
    options: dict[str, Any] = field(default_factory=dict)

    def applies(self, text: str) -> bool:
        """Whether every keyword is in ``text`` and no excluded keyword is."""
        return all(_search(k, text) for k in self.keywords) and not any(
            _search(k, text) for k in self.exclude_keywords
        )

    def read(self, text: str) -> dict[str, str]:
        """The fields this template finds in ``text``, normalised (ISO dates, ``1234.56``)."""
        if self.options.get("remove_whitespace"):
            text = re.sub(r"\s+", "", text)
        if self.options.get("lowercase"):
            text = text.lower()
        found = dict(self.static)
        for name, pattern in self.fields.items():
            match = _search(pattern, text)
            if not match:
                continue
            raw = (match.group(1) if match.groups() else match.group(0)).strip()
            value = self._normalise(name, raw)
            if value is not None:
                found[name] = value
        return found

    def _normalise(self, name: str, raw: str) -> str | None:
        if name in ("total", "tax"):
            mark = self.options.get("decimal_separator", ".")
            digits = re.sub(r"[^\d" + re.escape(mark) + "-]", "", raw).replace(mark, ".")
            try:
                return f"{Decimal(digits):.2f}"
            except InvalidOperation:
                return None
        if name == "date":
            for pattern in self.options.get("date_formats", []):
                try:
                    return dt.datetime.strptime(raw, pattern).date().isoformat()
                except ValueError:
                    continue
            read = dates(raw)
            return read[0].value.isoformat() if read else None
        return raw


def _template(path: Path, raw: dict[str, Any]) -> Template:
    keywords = raw.get("keywords") or []
    keywords = [keywords] if isinstance(keywords, str) else list(keywords)
    if not keywords:
        raise ValueError("a template needs keywords")
    excluded = raw.get("exclude_keywords") or []
    excluded = [excluded] if isinstance(excluded, str) else list(excluded)
    for pattern in (*keywords, *excluded):
        regex.compile(pattern)
    fields: dict[str, str] = {}
    static: dict[str, str] = {}
    for key, spec in (raw.get("fields") or {}).items():
        if key.startswith("static_"):
            name = _NAMES.get(key[len("static_") :])
            if name:
                static[name] = str(spec)
            continue
        name = _NAMES.get(key)
        if name is None:
            continue
        if isinstance(spec, dict):
            spec = spec.get("regex")
        if isinstance(spec, list):
            spec = "|".join(f"(?:{s})" for s in spec) if len(spec) > 1 else spec[0]
        if isinstance(spec, str):
            regex.compile(spec)
            fields[name] = spec
    options = dict(raw.get("options") or {})
    if raw.get("issuer"):
        static.setdefault("vendor", str(raw["issuer"]))
    if options.get("currency"):
        static.setdefault("currency", str(options["currency"]))
    return Template(
        name=path.stem,
        keywords=keywords,
        exclude_keywords=excluded,
        fields=fields,
        static=static,
        options=options,
    )


def load_templates(folder: str | Path) -> list[Template]:
    """Load every ``*.yml``/``*.yaml`` template in ``folder``, in name order.

    A file that is not valid YAML, has no keywords or holds a bad regex is skipped with a
    warning naming it; a folder that does not exist raises ``FileNotFoundError``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"templates folder {root} does not exist")
    loaded = []
    for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a mapping")
            loaded.append(_template(path, raw))
        except (yaml.YAMLError, ValueError, TypeError, regex.error) as exc:
            log.warning("invoice template %s skipped: %s", path.name, exc)
    return loaded


def match(templates: list[Template], text: str) -> tuple[Template, dict[str, str]] | None:
    """The first template that applies to ``text`` and the fields it reads, or None.

    A template whose pattern runs past :data:`PATTERN_TIMEOUT_S` on ``text`` is skipped
    with a warning naming it.
    """
    for template in templates:
        try:
            if template.applies(text):
                return template, template.read(text)
        except TimeoutError:
            log.warning(
                "invoice template %s skipped for this document: a pattern ran past %g s",
                template.name,
                PATTERN_TIMEOUT_S,
            )
    return None
