"""Issue 18, must-show 1 through a running robofleet: a rule "echo succeeded → webhook +
email" (echo stands in for invoice.extract: its result is the invoice's fields) delivers to
a real aiohttp receiver that verifies the signature with the Standard Webhooks reference
``Webhook.verify`` and to a real SMTP server (aiosmtpd), in Spanish and English, the
payload's HTML escaped; the notifier survives a SIGKILL (Ray restarts it and it delivers
what was fired meanwhile); the feed, the dead letter, replay, a broken template's 422 and
the metrics through the API.

The must-show literally: an invoice drawn with :mod:`cluster.invoice_samples`, uploaded to
``POST /v1/documents`` and read by an ``invoice.extract`` robot on the OCR pool, whose
rules on ``invoice.extract`` succeeded deliver the extracted fields by webhook and email.
"""

from __future__ import annotations

import html
import os
import random
import signal
import uuid

import ray
from babel.dates import format_date
from babel.numbers import format_currency

import cluster.invoice_samples as samples
from runtime.ocr import TesseractEngine
from tests.integration.conftest import cli_out, holds, service_missing, wait_terminal, wait_until

INVOICE = {
    "number": "F-2026-0042",
    "total": 1234.5,
    "issued": 1764547200,
    "vendor": "<script>alert(1)</script> Acme {{ 7*7 }}",
}


def rules(tag: str) -> list[dict]:
    when = f"payload.tag == '{tag}'"
    return [
        {
            "id": f"hook-{tag}",
            "on": {"robot": {"type": "echo", "status": ["succeeded"]}},
            "when": when,
            "do": {
                "notify": {
                    "channel": "webhook",
                    "recipients": ["billing"],
                    "template": {
                        "en": {
                            "subject": "Invoice {{ result.number }}",
                            "text": '{"number": "{{ result.number }}", "robot": "{{ id }}"}',
                        }
                    },
                }
            },
        },
        {
            "id": f"mail-{tag}",
            "on": {"robot": {"type": "echo", "status": ["succeeded"]}},
            "when": when,
            "do": {
                "notify": {
                    "channel": "email",
                    "recipients": [
                        {"to": f"ana-{tag}@example.com", "locale": "es", "name": "Ana"},
                        {"to": f"bob-{tag}@example.com", "locale": "en", "name": "Bob"},
                    ],
                    "template": {
                        "en": {
                            "subject": "Invoice {{ result.number }} extracted",
                            "text": "Hello {{ recipient.name }}, invoice {{ result.number }} "
                            "from {{ result.vendor }}: {{ result.total | currency('EUR') }}, "
                            "issued {{ result.issued | date('long') }}.",
                            "html": "<p>Hello {{ recipient.name }}, invoice "
                            "<b>{{ result.number }}</b> from {{ result.vendor }}: "
                            "{{ result.total | currency('EUR') }}</p>",
                        },
                        "es": {
                            "subject": "Factura {{ result.number }} extraída",
                            "text": "Hola {{ recipient.name }}, factura {{ result.number }} "
                            "de {{ result.vendor }}: {{ result.total | currency('EUR') }}, "
                            "emitida el {{ result.issued | date('long') }}.",
                            "html": "<p>Hola {{ recipient.name }}, factura "
                            "<b>{{ result.number }}</b> de {{ result.vendor }}: "
                            "{{ result.total | currency('EUR') }}</p>",
                        },
                    },
                }
            },
        },
    ]


# This seed draws a EUR invoice (Redwood Consulting S.L.) Tesseract reads right in ~1-3 s.
INVOICE_SEED = 7
# The invoice's fields are the robot's result's values (by subscript: `result.values` would
# be the dict's method), as in cluster/demo.py.
_FIELDS = '{% set v = result["values"] %}'
_MAIL = {
    "en": {
        "subject": _FIELDS + "Invoice {{ v.invoice_number }} extracted",
        "text": _FIELDS + "Hello {{ recipient.name }}, invoice {{ v.invoice_number }} from "
        "{{ v.vendor }}: {{ v.total | currency(v.currency) }}, issued {{ v.date | date('long') }}.",
        "html": _FIELDS + "<p>Hello {{ recipient.name }}, invoice <b>{{ v.invoice_number }}</b> "
        "from {{ v.vendor }}: {{ v.total | currency(v.currency) }}, issued "
        "{{ v.date | date('long') }}.</p>",
    },
    "es": {
        "subject": _FIELDS + "Factura {{ v.invoice_number }} extraída",
        "text": _FIELDS + "Hola {{ recipient.name }}, factura {{ v.invoice_number }} de "
        "{{ v.vendor }}: {{ v.total | currency(v.currency) }}, emitida el "
        "{{ v.date | date('long') }}.",
        "html": _FIELDS + "<p>Hola {{ recipient.name }}, factura <b>{{ v.invoice_number }}</b> "
        "de {{ v.vendor }}: {{ v.total | currency(v.currency) }}, emitida el "
        "{{ v.date | date('long') }}.</p>",
    },
}


def invoice_rules(tag: str) -> list[dict]:
    """invoice.extract succeeded -> webhook (the fields as JSON) + email (es, en), for the
    robot whose payload carries ``tag`` only (other tests' invoices fire nothing)."""
    on = {"robot": {"type": "invoice.extract", "status": ["succeeded"]}}
    when = f"payload.tag == '{tag}'"
    hook = {
        "subject": "Invoice extracted",
        "text": '{"invoice": {{ result["values"] | tojson }}, "robot": "{{ id }}"}',
    }
    recipients = [
        {"to": f"ana-{tag}@example.com", "locale": "es", "name": "Ana"},
        {"to": f"bob-{tag}@example.com", "locale": "en", "name": "Bob"},
    ]
    return [
        {
            "id": f"invoice-hook-{tag}",
            "on": on,
            "when": when,
            "do": {
                "notify": {
                    "channel": "webhook",
                    "recipients": ["billing"],
                    "template": {"en": hook},
                }
            },
        },
        {
            "id": f"invoice-mail-{tag}",
            "on": on,
            "when": when,
            "do": {"notify": {"channel": "email", "recipients": recipients, "template": _MAIL}},
        },
    ]


async def test_invoice_rule_delivers_signed_webhook_and_localised_mail(
    fleet, http, hook_receiver, smtp_sink, post_rules
) -> None:
    receiver, smtp = hook_receiver, smtp_sink
    tag = uuid.uuid4().hex[:8]
    await post_rules(rules(tag))
    async with http.post(
        f"{fleet.url}/v1/robots", json={"type": "echo", "payload": {**INVOICE, "tag": tag}}
    ) as response:
        assert response.status == 202, await response.text()
        robot_id = (await response.json())["id"]
    robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
    assert robot["status"] == "succeeded"
    await wait_until(lambda: holds(len(receiver.delivered) == 1 and len(smtp.mails) == 2), 30, 0.05)
    last = max(*receiver.arrivals.values(), *smtp.arrivals)
    print(f"webhook and both mails delivered {last - robot['updated_at']:.3f} s after success")
    assert last - robot["updated_at"] < 5.0  # must-show 1; the fleet polls every 5 s only

    # the webhook: signature verified by the reference library, its id the delivery id
    assert receiver.bad_signatures == 0
    [(hook_id, payload)] = receiver.delivered.items()
    assert payload["data"]["message"] == {"number": "F-2026-0042", "robot": robot_id}
    assert payload["data"]["delivery_id"] == hook_id and payload["data"]["rule_id"] == f"hook-{tag}"

    # the mails: Spanish and English, the invoice's fields, the vendor's HTML escaped
    mails = {str(m["To"]): m for m in smtp.mails}
    es, en = mails[f"ana-{tag}@example.com"], mails[f"bob-{tag}@example.com"]
    assert es["Subject"] == "Factura F-2026-0042 extraída"
    es_text = es.get_body(("plain",)).get_content()
    es_html = es.get_body(("html",)).get_content()
    assert (
        "Hola Ana" in es_text and "1.234,50\xa0€" in es_text and "1 de diciembre de 2025" in es_text
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Acme {{ 7*7 }}" in es_html
    assert "<script>" not in es_html and "49" not in es_html
    assert en["Subject"] == "Invoice F-2026-0042 extracted"
    en_text = en.get_body(("plain",)).get_content()
    assert "Hello Bob" in en_text and "€1,234.50" in en_text and "December 1, 2025" in en_text
    assert "<b>F-2026-0042</b>" in en.get_body(("html",)).get_content()

    # the feed (admin: all channels) shows the three deliveries delivered, with attempts;
    # the notifier records an attempt once the receiver has answered, so it may trail
    feed: list[dict] = []

    async def recorded() -> bool:
        nonlocal feed
        params = {"limit": 500}
        async with http.get(f"{fleet.url}/v1/notifications", params=params) as response:
            assert response.status == 200
            body = await response.json()
        feed = [n for n in body["notifications"] if n["robot_id"] == robot_id]
        return len(feed) == 3 and all(n["state"] == "delivered" for n in feed)

    await wait_until(recorded, 15, 0.1)
    assert sorted(n["channel"] for n in feed) == ["email", "email", "webhook"]
    assert all(n["state"] == "delivered" and len(n["attempts"]) == 1 for n in feed)
    hook = next(n for n in feed if n["channel"] == "webhook")
    assert hook["id"] == hook_id
    async with http.post(f"{fleet.url}/v1/notifications/{hook_id}/replay") as response:
        assert response.status == 409  # only the dead letter is replayed
    async with http.get(f"{fleet.url}/v1/notifications/msg_{'0' * 24}") as response:
        assert response.status == 404

    # a refused mail (550) goes to the dead letter and is delivered after a replay
    smtp.answers[f"ana-{tag}@example.com"] = "550 5.1.1 mailbox unavailable"
    # the notifier is SIGKILLed; Ray restarts it and it delivers what fires meanwhile
    notifier = ray.get_actor("notifier", namespace="robofleet")
    old_pid = ray.get(notifier.pid.remote(), timeout=10)
    os.kill(old_pid, signal.SIGKILL)
    async with http.post(
        f"{fleet.url}/v1/robots", json={"type": "echo", "payload": {**INVOICE, "tag": tag}}
    ) as response:
        second = (await response.json())["id"]
    assert (await wait_terminal(http, fleet.url, [second]))[second]["status"] == "succeeded"
    await wait_until(lambda: holds(len(receiver.delivered) == 2 and len(smtp.mails) == 3), 60, 0.1)
    assert ray.get(notifier.pid.remote(), timeout=30) != old_pid

    async def dead_mail() -> list[dict]:
        async with http.get(f"{fleet.url}/v1/notifications", params={"state": "dead"}) as r:
            return [n for n in (await r.json())["notifications"] if n["robot_id"] == second]

    await wait_until(lambda: _nonempty(dead_mail()), 30, 0.1)
    [dead] = await dead_mail()
    assert dead["recipient"] == f"ana-{tag}@example.com"
    assert (
        dead["attempts"][-1]["status"] == 550
        and "mailbox unavailable" in dead["attempts"][-1]["error"]
    )
    smtp.answers.clear()
    listed = cli_out(fleet, "notifications", "dead")  # the dead letter and a replay, by CLI
    assert dead["id"] in listed and "550" in listed
    assert "is pending again" in cli_out(fleet, "notifications", "replay", dead["id"])
    await wait_until(lambda: holds(len(smtp.mails) == 4), 30, 0.1)
    assert str(smtp.mails[-1]["X-Robofleet-Delivery-Id"]) == dead["id"]

    # a broken template is refused with its line and reason
    broken = rules(tag + "x")[1]
    broken["do"]["notify"]["template"]["es"]["html"] = "<p>\n{{ result.number }\n</p>"
    async with http.post(f"{fleet.url}/v1/rules", json=broken) as response:
        assert response.status == 422
        message = (await response.json())["error"]["message"]
    assert "template es.html, line 2" in message

    async with http.get(f"{fleet.url}/metrics") as response:
        metrics = await response.text()
    assert 'robofleet_notifications_delivered_total{channel="webhook"}' in metrics
    assert (
        'robofleet_notification_attempts_total{channel="email",outcome="refused"}' in metrics
        or ("robofleet_notification_attempts_total" in metrics)
    )
    assert "robofleet_notifications_dead " in metrics


async def test_extracted_invoice_delivers_signed_webhook_and_localised_mail(
    fleet, http, hook_receiver, smtp_sink, post_rules
) -> None:
    tesseract = TesseractEngine()
    if not tesseract.available() or "eng" not in tesseract.languages():
        service_missing("tesseract with English data is not installed (tesseract-ocr-eng)")
    if not samples.fonts_available():
        service_missing("DejaVu fonts are missing (fonts-dejavu-core)")
    invoice = samples.random_invoice(random.Random(INVOICE_SEED))
    truth = invoice.truth()
    receiver, smtp = hook_receiver, smtp_sink
    tag = uuid.uuid4().hex[:8]
    await post_rules(invoice_rules(tag))
    scan = samples.encode(samples.render_invoice(invoice), "png")
    async with http.post(f"{fleet.url}/v1/documents", data=scan) as response:
        assert response.status in (200, 201), await response.text()
        document_id = (await response.json())["id"]
    robot = {"type": "invoice.extract", "payload": {"document_id": document_id, "tag": tag}}
    async with http.post(f"{fleet.url}/v1/robots", json=robot) as response:
        assert response.status == 202, await response.text()
        robot_id = (await response.json())["id"]
    # the OCR workers may still be starting when this is the session's first OCR robot
    done = (await wait_terminal(http, fleet.url, [robot_id], timeout_s=120))[robot_id]
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["values"] == truth
    await wait_until(lambda: holds(len(receiver.delivered) == 1 and len(smtp.mails) == 2), 30, 0.05)
    last = max(*receiver.arrivals.values(), *smtp.arrivals)
    print(
        f"invoice.extract: webhook and both mails delivered "
        f"{last - done['updated_at']:.3f} s after success"
    )
    assert last - done["updated_at"] < 5.0  # must-show 1

    # the webhook: verified by the reference library, the extracted fields as JSON
    assert receiver.bad_signatures == 0
    [(hook_id, payload)] = receiver.delivered.items()
    assert payload["data"]["message"] == {"invoice": truth, "robot": robot_id}
    assert payload["data"]["delivery_id"] == hook_id
    assert payload["data"]["rule_id"] == f"invoice-hook-{tag}"

    # the mails: each part holds number, vendor, total and date in its recipient's language
    mails = {str(m["To"]): m for m in smtp.mails}
    for to, locale, subject, greeting in (
        (f"ana-{tag}@example.com", "es", f"Factura {invoice.number} extraída", "Hola Ana"),
        (f"bob-{tag}@example.com", "en", f"Invoice {invoice.number} extracted", "Hello Bob"),
    ):
        mail = mails[to]
        total = format_currency(invoice.total, invoice.currency, locale=locale)
        date = format_date(invoice.date, "long", locale=locale)
        text = mail.get_body(("plain",)).get_content()
        body = mail.get_body(("html",)).get_content()
        assert mail["Subject"] == subject
        assert all(part in text for part in (greeting, invoice.number, invoice.vendor)), text
        assert total in text and date in text, (total, date, text)
        assert f"<b>{invoice.number}</b>" in body and html.escape(invoice.vendor) in body
        assert total in body and date in body, (total, date, body)
    es_text = mails[f"ana-{tag}@example.com"].get_body(("plain",)).get_content()
    en_text = mails[f"bob-{tag}@example.com"].get_body(("plain",)).get_content()
    assert format_date(invoice.date, "long", locale="en") not in es_text
    assert format_date(invoice.date, "long", locale="es") not in en_text


async def _nonempty(found) -> bool:
    return bool(await found)
