"""Notification throughput: deliveries/min to a local webhook receiver and to an SMTP server,
and the template rendering p99.

    python -m bench.notify_throughput [--webhooks 2000] [--mails 1000] [--renders 5000]

The notifier's logic (:class:`actors.notifier.Notifier`, no Ray) delivers an outbox of
``--webhooks`` webhook deliveries (signed; the receiver, an aiohttp server in this process,
verifies each signature with ``standardwebhooks``' ``Webhook.verify``) and then ``--mails``
mails (aiosmtpd in this process, on its own thread), from a SQLite store in a temporary
directory. The clock runs from the notifier's start until the outbox holds no pending
delivery, so each figure includes the store's reads and the attempt records. Rendering is
timed per call on an invoice template (subject, text, HTML; currency and date filters) in
English and Spanish, with a fresh payload each time.

Goals from the issue: >= 1,000 deliveries/min each way; render p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "notify_throughput.json"


async def _drain(store: Any, settings: Any, environ: dict[str, str]) -> float:
    from actors.notifier import Notifier
    from runtime.notify.outbox import DeliveryState

    notifier = Notifier(store, settings, environ=environ)
    started = time.perf_counter()
    await notifier.start()
    while await store.count_deliveries(DeliveryState.PENDING):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await notifier.stop()
    return elapsed


async def run(webhooks: int, mails: int, renders: int) -> dict[str, Any]:
    """Measure and answer the figures."""
    from cluster.smtp_sink import SmtpSink
    from runtime.notify.model import Channel, MessageTemplate
    from runtime.notify.outbox import DeliveryState, new_delivery
    from runtime.notify.settings import NotifySettings
    from runtime.notify.templates import render
    from runtime.store import SqliteStore
    from tests.integration.notify_servers import WebhookReceiver, new_secret

    secret = new_secret("bench")
    receiver = await WebhookReceiver(secret).start()
    smtp = SmtpSink().start()
    settings = NotifySettings.model_validate(
        {
            "webhooks": [{"name": "bench", "url": receiver.url, "secrets_env": "BENCH_HOOK"}],
            "smtp": {"host": "127.0.0.1", "port": smtp.port},
            "concurrency": 32,
            "batch": 500,
        }
    )
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "robofleet.db")
        await store.open()
        try:
            hooks = [
                new_delivery(f"w{i}", Channel.WEBHOOK, "bench", {"text": f'{{"n": {i}}}'})
                for i in range(webhooks)
            ]
            await store.add_deliveries(hooks)
            seconds = await _drain(store, settings, {"BENCH_HOOK": secret})
            assert len(receiver.delivered) == webhooks and receiver.bad_signatures == 0
            figures["webhook_per_min"] = round(webhooks / seconds * 60)
            message = {"subject": "Invoice", "text": "Total 1.234,50 €", "html": "<p>x</p>"}
            letters = [
                new_delivery(f"m{i}", Channel.EMAIL, f"user{i}@example.com", message)
                for i in range(mails)
            ]
            await store.add_deliveries(letters)
            seconds = await _drain(store, settings, {"BENCH_HOOK": secret})
            assert len(smtp.mails) == mails
            assert await store.count_deliveries(DeliveryState.DEAD) == 0
            figures["email_per_min"] = round(mails / seconds * 60)
        finally:
            await store.close()
            await receiver.stop()
            smtp.stop()
    template = MessageTemplate(
        subject="Invoice {{ result.number }}",
        text="Hello {{ recipient.name }}, {{ result.total | currency('EUR') }} "
        "issued {{ result.issued | date('long') }} by {{ result.vendor }}",
        html="<p>{{ result.vendor }}: <b>{{ result.total | currency('EUR') }}</b></p>"
        "{% for line in result.lines %}<li>{{ line.text }} {{ line.amount | number }}</li>"
        "{% endfor %}",
    )
    times: list[float] = []
    for i in range(renders):
        event = {
            "result": {
                "number": f"F-{i}",
                "total": 1000 + i / 7,
                "issued": 1764547200 + i,
                "vendor": f"<b>Vendor {i}</b>",
                "lines": [{"text": f"item {n}", "amount": n * 1.5} for n in range(10)],
            },
            "recipient": {"name": "Ana"},
        }
        started = time.perf_counter()
        render(template, event, "es" if i % 2 else "en")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    figures["render_p50_ms"] = round(statistics.median(times), 3)
    figures["render_p99_ms"] = round(times[int(len(times) * 0.99) - 1], 3)
    figures.update(webhooks=webhooks, mails=mails, renders=renders)
    return figures


def main() -> None:
    """Run the benchmark, print the figures and keep them in bench/results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=5000)
    args = parser.parse_args()
    figures = asyncio.run(run(args.webhooks, args.mails, args.renders))
    print(
        f"webhook: {figures['webhook_per_min']:,} deliveries/min (goal >= 1,000)\n"
        f"email:   {figures['email_per_min']:,} deliveries/min (goal >= 1,000)\n"
        f"render:  p50 {figures['render_p50_ms']} ms, p99 {figures['render_p99_ms']} ms "
        "(goal p99 < 50 ms)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
