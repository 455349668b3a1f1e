"""Notification templates: sandboxed, autoescaped HTML, locale formats, refused when broken;
a template that tries to escape the sandbox, or a payload carrying HTML or Jinja syntax,
renders as text and runs nothing (issue 18, must-show 4)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from runtime.notify.model import MessageTemplate, NotifyAction
from runtime.notify.templates import TemplateRefused, check_templates, render
from runtime.rules.model import Rule

EVENT = {
    "id": "r1",
    "type": "invoice.extract",
    "status": "succeeded",
    "payload": {"customer": "<b>ACME</b> {{ 7*7 }}"},
    "result": {"number": "F-2026-17", "total": 1234.5, "issued": 1764547200.0},
}


def test_invoice_fields_render_in_english_and_spanish_formats() -> None:
    template = MessageTemplate(
        subject="Invoice {{ result.number }}",
        text="Total {{ result.total | currency('EUR') }} on {{ result.issued | date('long') }}",
    )
    en = render(template, EVENT, "en")
    es = render(template, EVENT, "es")
    assert en["subject"] == "Invoice F-2026-17"
    assert "€1,234.50" in en["text"] and "December 1, 2025" in en["text"]
    assert "1.234,50\xa0€" in es["text"] and "1 de diciembre de 2025" in es["text"]
    number = MessageTemplate(text="{{ result.total | number }}")
    assert render(number, EVENT, "es")["text"] == "1.234,5"
    assert render(number, EVENT, "en")["text"] == "1,234.5"


def test_payload_with_html_and_jinja_syntax_is_data_escaped_in_html() -> None:
    template = MessageTemplate(
        text="Customer: {{ payload.customer }}", html="<p>{{ payload.customer }}</p>"
    )
    out = render(template, EVENT, "en")
    assert out["text"] == "Customer: <b>ACME</b> {{ 7*7 }}"  # not rendered a second time
    assert out["html"] == "<p>&lt;b&gt;ACME&lt;/b&gt; {{ 7*7 }}</p>"
    assert "49" not in out["text"] + out["html"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('touch /tmp/pwned-notify').read() }}",
        "{{ self._TemplateReference__context }}{{ result.__class__.__base__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ lipsum.__globals__['os'].system('id') }}",
    ],
)
def test_sandbox_escapes_run_nothing(source: str) -> None:
    template = MessageTemplate(text=source)  # it compiles: the sandbox acts when it runs
    with pytest.raises(TemplateRefused, match="SecurityError: access to attribute .* unsafe"):
        render(template, EVENT, "en")
    assert not os.path.exists("/tmp/pwned-notify")


def test_a_broken_template_is_refused_with_its_line_and_reason() -> None:
    with pytest.raises(TemplateRefused, match=r"template es\.text, line 2: .*"):
        check_templates({"es": MessageTemplate(text="hola\n{{ result.total }")})
    rule = {
        "id": "bad",
        "on": {"robot": {"type": "echo"}},
        "do": {
            "notify": {
                "channel": "email",
                "recipients": ["a@example.com"],
                "template": {"en": {"text": "ok", "html": "<p>\n\n{% if x %}</p>"}},
            }
        },
    }
    with pytest.raises(ValidationError, match=r"template en\.html, line 3"):
        Rule.model_validate(rule)
    nested = "{{" * 300 + "x" + "}}" * 300  # past the parser's recursion: refused, not a crash
    with pytest.raises(TemplateRefused, match="RecursionError"):
        check_templates({"en": MessageTemplate(text=nested)})


def test_a_recipient_reads_its_language_or_the_fallback() -> None:
    action = NotifyAction.model_validate(
        {
            "channel": "email",
            "recipients": ["a@example.com", {"to": "b@example.com", "locale": "es_MX"}],
            "template": {"en": {"text": "hello"}, "es": {"text": "hola"}},
        }
    )
    assert [r.locale for r in action.recipients] == ["en", "es_MX"]
    assert action.message_for("es_MX")[0] == "es"
    assert action.message_for("de")[0] == "en"


def test_do_is_exactly_one_of_submit_and_notify() -> None:
    notify = {"channel": "inapp", "recipients": ["*"], "template": {"en": {"text": "x"}}}
    base = {"id": "r", "on": {"robot": {"type": "echo"}}}
    Rule.model_validate({**base, "do": {"notify": notify}})
    with pytest.raises(ValidationError, match="exactly one of submit and notify"):
        Rule.model_validate({**base, "do": {"notify": notify, "submit": {"type": "echo"}}})
    with pytest.raises(ValidationError, match="exactly one of submit and notify"):
        Rule.model_validate({**base, "do": {}})
    with pytest.raises(ValidationError, match="fires on a robot event"):
        Rule.model_validate(
            {"id": "r", "on": {"schedule": {"every_s": 60}}, "do": {"notify": notify}}
        )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'x' * 10**10 }}", "'\\*' makes a value longer than"),
        ("{{ 7**99999999 }}", "'\\*\\*' makes a number of more than 4096 bits"),
        ("{{ 'x'|center(10000000000) }}", "center: 10000000000 is past"),
        ("{% set s = 'x' * 100000 %}{{ s|join(s) }}", "join makes a value longer"),
        ("{% set s = 'x' * 100000 %}{{ s~s~s~s~s~s~s~s~s~s~s }}", "'~' makes a value"),
        ("{{ '%099999999d' % 1 }}", "'%': a format width past"),
        ("{{ '{:>999999999}'.format(1) }}", "format: a format width past"),
        ("{{ lipsum(10000) }}", "lipsum: at most"),
        (
            "{% set s = 'x' * 100000 %}{% set b %}{% for i in range(100000) %}{{ s }}"
            "{% endfor %}{% endset %}",
            "a block makes a text longer",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "the template takes more than 1000000 steps",
        ),
    ],
)
def test_amplifying_templates_are_refused_at_save_and_at_render(source: str, reason: str) -> None:
    """Compile-time folding and rendering are both bounded: no gigabytes, no endless loop."""
    with pytest.raises(TemplateRefused, match=f"template en.text: SecurityError: {reason}"):
        check_templates({"en": MessageTemplate(text=source)})
    with pytest.raises(TemplateRefused, match=f"template text: SecurityError: {reason}"):
        render(MessageTemplate(text=source), EVENT, "en")


def test_range_past_the_sandbox_bound_and_ordinary_arithmetic() -> None:
    with pytest.raises(TemplateRefused, match="MAX_RANGE"):
        render(MessageTemplate(text="{{ range(10**9) }}"), EVENT, "en")
    ok = MessageTemplate(text="{{ 2 * 3 }} {{ 'a' ~ id }} {{ [1] + [2] }} {{ '%05d' % 7 }}")
    check_templates({"en": ok})
    assert render(ok, EVENT, "en")["text"] == "6 ar1 [1, 2] 00007"
