"""Vendor templates in invoice2data's YAML format, layered over the generic extractor."""

from __future__ import annotations

import logging

import cluster.invoice_samples as samples
from runtime.ocr.modules import InvoiceExtract
from runtime.ocr.templates import load_templates, match

TEMPLATE = r"""
issuer: Acme Hosting GmbH
keywords:
  - Acme Hosting
  - Rechnung
exclude_keywords:
  - Gutschrift
fields:
  amount: Endsumme\s+([\d.,]+)
  invoice_number:
    parser: regex
    regex: 'Beleg\s+(\S+)'
  date: Vom\s+(\d+\.\d+\.\d+)
options:
  currency: EUR
  date_formats:
    - '%d.%m.%Y'
  decimal_separator: ','
"""

TEXT = "Acme Hosting\nRechnung\nBeleg AH-77/2024\nVom 03.02.2024\nEndsumme 1.190,00\n"


def test_a_template_that_applies_reads_its_fields(tmp_path):
    (tmp_path / "acme.yml").write_text(TEMPLATE)
    templates = load_templates(tmp_path)
    template, found = match(templates, TEXT)
    assert template.name == "acme"
    assert found == {
        "vendor": "Acme Hosting GmbH",
        "currency": "EUR",
        "total": "1190.00",
        "invoice_number": "AH-77/2024",
        "date": "2024-02-03",
    }
    assert match(templates, TEXT + "Gutschrift\n") is None  # an excluded keyword
    assert match(templates, "Other Vendor\nRechnung\n") is None


def test_a_bad_template_is_skipped_with_its_name_in_the_log(tmp_path, caplog):
    (tmp_path / "acme.yml").write_text(TEMPLATE)
    (tmp_path / "broken.yml").write_text("keywords: [\n")
    (tmp_path / "badregex.yaml").write_text("keywords: ['(unclosed']\nfields: {amount: '(x'}\n")
    with caplog.at_level(logging.WARNING):
        templates = load_templates(tmp_path)
    assert [t.name for t in templates] == ["acme"]
    assert "broken.yml" in caplog.text and "badregex.yaml" in caplog.text


def test_the_robot_answers_with_the_template_fields(tmp_path):
    (tmp_path / "acme.yml").write_text(TEMPLATE)
    page = [(53, 80 + 20 * i, 11, line, False) for i, line in enumerate(TEXT.splitlines())]
    module = InvoiceExtract(options={"templates_dir": str(tmp_path)})
    result = module.engine.process(samples.text_pdf([page]))
    from runtime.ocr.modules import invoice_answer

    answer = invoice_answer(result, module.templates)
    assert answer["values"]["total"] == "1190.00"
    assert answer["fields"]["invoice_number"]["source"] == "template acme"
    assert answer["fields"]["invoice_number"]["confidence"] == 0.99
    # Without templates the generic extractor answers on its own.
    assert invoice_answer(result)["fields"]["invoice_number"]["source"] != "template acme"


def test_a_catastrophic_pattern_is_cut_off_and_its_template_skipped(tmp_path, caplog):
    """A keyword that backtracks exponentially on the text does not hold the worker: the
    template is skipped after the timeout and the next one still applies. ('(a+)+$', the
    classic, is answered at once by the regex library; '(a|a)*$' still backtracks.)"""
    (tmp_path / "a_redos.yml").write_text("issuer: Slow\nkeywords: ['(?m)^(a|a)*$', '(a+)+$']\n")
    (tmp_path / "acme.yml").write_text(TEMPLATE)
    templates = load_templates(tmp_path)
    with caplog.at_level(logging.WARNING):
        template, _ = match(templates, TEXT + "a" * 40 + "b\n")
    assert template.name == "acme"
    assert "a_redos" in caplog.text


def test_a_bad_keyword_regex_is_skipped_at_load(tmp_path, caplog):
    """A keyword that is not a valid regex is caught when loading, not when a robot runs."""
    (tmp_path / "kw.yml").write_text("keywords: ['(unclosed']\n")
    with caplog.at_level(logging.WARNING):
        assert load_templates(tmp_path) == []
    assert "kw.yml" in caplog.text
