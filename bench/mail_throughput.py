"""Email monitor throughput: mails/min and the monitor's peak memory for a batch of mail.

    python -m bench.mail_throughput [--mails 1000] [--batch-size 25]

A Dovecot of its own (cluster/dovecot.py: throwaway config, free port) gets ``--mails`` real
MIME messages by IMAP APPEND: 70% support requests, 20% invoices with a PDF attachment, 10%
HTML newsletters. Then a child process runs the email monitor's logic
(:class:`actors.email_monitor.EmailMonitor`) on that mailbox with a SQLite store, the local
documents shelf, and the store's idempotent robot insert as its robot sink (no Ray: the
figure is the monitor's own work per mail: IMAP fetch, raw document, parse, PII redaction,
classification, attachments, robots, record, cursor). The clock runs from the monitor's
start (classifier load included) until the cursor holds the last UID; the child reports
its own peak RSS (``ru_maxrss``), so nothing of this harness counts.

Goals from the issue: >= 100 mails/min, peak memory < 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

RESULTS = Path(__file__).with_name("results") / "mail_throughput.json"


def _mails(count: int) -> list[bytes]:
    from cluster import invoice_samples as ocr_samples
    from cluster.invoice_samples import invoice_mail
    from tests.mail_samples import support_mail

    rng = random.Random(7)
    pdfs = [
        s.data for s in ocr_samples.invoice_samples(12, seed=3) if s.container == "pdf-text"
    ]
    mails: list[bytes] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.2:
            iban = "IBAN ES91 2100 0418 4502 0005 1332"
            mails.append(invoice_mail(pdfs[n % len(pdfs)], f"F-{n:05d}", iban))
        elif roll < 0.3:
            msg = EmailMessage()
            msg["From"], msg["To"] = "news@shop.example", "ops@example.com"
            msg["Subject"] = f"Black friday deals {n}: 50% off everything"
            msg.set_content("View this mail in a browser.")
            msg.add_alternative(
                f"<html><body><h1>Deals {n}</h1><p>Unsubscribe <a href='x'>here</a></p>"
                "<script>track()</script></body></html>",
                subtype="html",
            )
            mails.append(msg.as_bytes())
        else:
            mails.append(support_mail(n))
    return mails


async def _child(port: int, password: str, data_dir: str, batch_size: int, last_uid: int) -> None:
    from actors.email_monitor import EmailMonitor
    from gateway.documents import LocalShelf
    from runtime.config import Settings
    from runtime.mail.mailbox import MailAction, MailboxSpec, MailSettings
    from runtime.messages import SubmitAnswer, SubmitRequest
    from runtime.ocr.shelf import DocumentShelf
    from runtime.store.sqlite import SqliteStore

    spec = MailboxSpec(
        name="bench", host="127.0.0.1", port=port, tls=False, user="bench",
        password_env="BENCH_IMAP_PASSWORD",
    )  # fmt: skip
    echo = [MailAction(type="echo")]
    mail = MailSettings(
        batch_size=batch_size,
        actions={"invoice": [MailAction(type="invoice.extract", per_attachment=True)],
                 "reminder": echo, "support": echo, "other": echo, "spam": []},
    )  # fmt: skip
    settings = Settings(data_dir=Path(data_dir), mailboxes=[spec], mail=mail)
    store = SqliteStore(Path(data_dir) / "robofleet.db")
    await store.open()

    async def submit(requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        stored = await store.create_robots([r.robot for r in requests])
        return [SubmitAnswer(r.id) for r in stored]  # type: ignore[union-attr]

    shelf = LocalShelf(DocumentShelf(settings.documents_dir()))
    monitor = EmailMonitor(
        settings, store, submit, shelf, environ={"BENCH_IMAP_PASSWORD": password}
    )
    started = time.perf_counter()
    await monitor.start()
    while True:
        cursor = await store.mail_cursor("bench")
        if cursor is not None and cursor.last_uid >= last_uid:
            break
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    await monitor.stop()
    page = await store.list_mail(limit=500)
    await store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    classes = sorted({m.mail_class or "-" for m in page.mail})
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kib / 1024, "classes": classes}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, password, data_dir, last_uid = args.child
        asyncio.run(_child(int(port), password, data_dir, args.batch_size, int(last_uid)))
        return 0

    from cluster.dovecot import Dovecot, append_all, inbox_uids

    server = Dovecot(Path(tempfile.mkdtemp(prefix="robofleet-dovecot-")))
    server.start()
    try:
        mails = _mails(args.mails)
        asyncio.run(append_all(server.port, "bench", server.password, mails))
        uids = asyncio.run(inbox_uids(server.port, "bench", server.password))
        data_dir = tempfile.mkdtemp(prefix="robofleet-mail-bench-")
        child = subprocess.run(
            [sys.executable, "-m", "bench.mail_throughput", "--batch-size",
             str(args.batch_size), "--child", str(server.port), server.password, data_dir,
             str(uids[-1])],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            return 1
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    per_min = len(uids) / figures["seconds"] * 60
    result = {
        "mails": len(uids),
        "batch_size": args.batch_size,
        "seconds": round(figures["seconds"], 2),
        "mails_per_min": round(per_min),
        "monitor_peak_rss_mb": round(figures["peak_rss_mb"], 1),
        "goal": {"mails_per_min": 100, "peak_rss_mb": 200},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"email monitor: {len(uids)} mails in {figures['seconds']:.1f} s = {per_min:.0f} mails/min "
        f"(goal >= 100); monitor peak RSS {figures['peak_rss_mb']:.0f} MB (goal < 200)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
