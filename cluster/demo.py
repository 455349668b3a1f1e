"""``robofleet demo``: the README's flow end to end on this machine, printed step by step.

A mail with a scanned invoice arrives in an IMAP mailbox, the email monitor records and
classifies it and submits an ``invoice.extract`` robot, an OCR worker reads the invoice's
fields, and a rule "invoice.extract succeeded → email" delivers them to an SMTP server.

Everything runs in one temp dir on free ports and is removed after: a throwaway Dovecot
(:mod:`cluster.dovecot`), an SMTP server (:mod:`cluster.smtp_sink`, aiosmtpd), and
``robofleet up`` itself (its own data dir and Ray head), started as a user starts it. The
demo watches through the gateway's API, as any client would, and prints each step when it
sees it. Exit 0 when the mail received carries the invoice's fields; 1 with the reason
(and the end of robofleet's log) on any failure or after ``--timeout`` seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cluster import up_record
from cluster.client import GatewayClient, GatewayRequestFailed
from cluster.ports import free_loopback_port

__all__ = ["STEPS", "DemoFailed", "add_demo_parser", "run_demo"]

T = TypeVar("T")

STEPS = (
    "servers started",
    "robofleet up",
    "mailbox watched",
    "mail sent",
    "mail arrived",
    "mail classified",
    "robot submitted",
    "fields extracted",
    "notification queued",
    "notification delivered",
    "mail received",
    "fields checked",
    "cleaned up",
)
"""The label of every line the demo prints, in order (tests look for them)."""

MAILBOX = "demo-inbox"
RECIPIENT = "accounts@example.com"
# what the mail carries and the "fields extracted" step prints
FIELDS = ("invoice_number", "vendor", "date", "total", "currency", "tax")
_ADMIN_KEY = re.compile(r"ROBOFLEET_API_KEY=(rf_\S+)")
# the invoice's fields are the robot's result's values (see README, Documents and OCR)
# (by subscript: `result.values` would be the dict's method)
_SUBJECT = 'Invoice {{ result["values"].invoice_number }} from {{ result["values"].vendor }}'
_TEXT = """{% set v = result["values"] -%}
Invoice {{ v.invoice_number }} arrived by mail and was read by robot {{ id }}.

  Invoice number: {{ v.invoice_number }}
  Vendor:         {{ v.vendor }}
  Date:           {{ v.date }}
  Total:          {{ v.total }} {{ v.currency }}
  Tax:            {{ v.tax }}
"""
_HTML = """{% set v = result["values"] -%}
<p>Invoice <b>{{ v.invoice_number }}</b> from {{ v.vendor }}, dated {{ v.date }}:
{{ v.total }} {{ v.currency }}.</p>
"""


class DemoFailed(Exception):
    """Raised when a step of the demo fails or does not happen in time; says which and why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(step, reason)
        self.step = step
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.step}: {self.reason}"


def _clock(ts: float) -> str:
    """A Unix time as local ``HH:MM:SS.mmm``."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


class _Printer:
    """Prints ``HH:MM:SS.mmm  +S.SSs  step  text`` lines, flushed at once."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def step(self, label: str, text: str, body: str = "") -> None:
        elapsed = time.monotonic() - self.started
        print(f"{_clock(time.time())}  +{elapsed:6.2f}s  {label:<22}  {text}", flush=True)
        for line in body.splitlines():
            print(f"{'':<36}| {line}", flush=True)


@dataclass
class _Deadline:
    """The demo's one time budget; :meth:`wait` polls a probe until it returns a value."""

    at: float

    def wait(self, step: str, what: str, probe: Callable[[], T | None], every_s: float = 0.1) -> T:
        while True:
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > self.at:
                raise DemoFailed(step, f"timed out waiting for {what}")
            time.sleep(every_s)


def _config(imap_port: int, smtp_port: int, password_file: Path) -> str:
    """The TOML file of the demo's robofleet: one OCR worker, the mailbox, SMTP, the rule."""
    s = json.dumps
    return f"""# robofleet demo: written by `robofleet demo`, removed with its temp dir
ocr_workers = 1

[[modules]]
name = "ocr"
class = "actors.ocr_worker:OcrWorker"
types = ["ocr.extract", "invoice.extract"]
replica_prefix = "ocr"
replicas = 1
max_concurrency = 2
resources = {{ num_cpus = 1 }}

[[mailboxes]]
name = "{MAILBOX}"
host = "127.0.0.1"
port = {imap_port}
tls = false
user = "accounts"
password_file = {s(str(password_file))}
stale_after_s = 30
timeout_s = 10

[[mail.rules]]
class = "invoice"
subject = "invoice|factura"
has_attachment = true

[notify]
poll_s = 0.2
retry_schedule = {{ email = [0, 0.5, 1, 2] }}

[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "robofleet@example.com"

[[rules]]
id = "invoice-fields-by-mail"
[rules.on.robot]
type = "invoice.extract"
status = ["succeeded"]
[rules.do.notify]
channel = "email"
recipients = [{s(RECIPIENT)}]
[rules.do.notify.template.en]
subject = {s(_SUBJECT)}
text = {s(_TEXT)}
html = {s(_HTML)}
"""


class _Robofleet:
    """``robofleet up`` in a child process on free ports, its output in ``log``."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.log = data_dir / "up.log"
        self.ray_port = free_loopback_port()
        self.gateway_port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.gateway_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROBOFLEET_")}
        env.update(
            ROBOFLEET_RAY_PORT=str(self.ray_port),
            ROBOFLEET_DASHBOARD_PORT=str(free_loopback_port()),
            ROBOFLEET_METRICS_EXPORT_PORT=str(free_loopback_port()),
            ROBOFLEET_GATEWAY_PORT=str(self.gateway_port),
        )
        self.data_dir = data_dir
        self.ray_temp_dir: Path | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cluster.cli", "up", "--config", str(config)]
        with self.log.open("w") as log_file:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(data_dir)],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the demo, which stops it in order
            )

    def ready(self) -> str | None:
        """The admin key once ``robofleet is up`` is printed (its modules' replicas started) and
        ``/readyz`` answers 200; raises ``DemoFailed`` if it exited."""
        if self.process.poll() is not None:
            raise DemoFailed("robofleet up", f"exited with code {self.process.returncode}")
        try:
            status, _ = GatewayClient(self.url, timeout_s=2).readiness()
        except GatewayRequestFailed:
            return None
        printed = self.log.read_text()
        if status != 200 or "robofleet is up" not in printed:
            return None
        found = _ADMIN_KEY.search(printed)
        if found is None:
            raise DemoFailed("robofleet up", "it printed no admin key")
        record = up_record.read(self.data_dir)
        if record is not None and record.head is not None:
            self.ray_temp_dir = Path(record.head.temp_dir)
        return found[1]

    def stop(self) -> None:
        """Ctrl-C it (it drains and stops its Ray head), kill it after 90 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # up removes its Ray head's temp dir, but Ray's last processes may write to it while
        # they exit: the demo leaves nothing behind
        if self.ray_temp_dir is not None:
            shutil.rmtree(self.ray_temp_dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        """The end of its output, for a failure message."""
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""


def _get(client: GatewayClient, path: str, **query: Any) -> dict[str, Any] | None:
    """A GET of the API, or None while the answer is 503 (an actor restarting)."""
    try:
        answer: dict[str, Any] = client.request("GET", path, query=query or None)
    except GatewayRequestFailed as exc:
        if exc.status == 503:
            return None
        raise
    return answer


def _flow(say: _Printer, deadline: _Deadline, root: Path) -> None:
    """Every step from the servers to the received mail; raises ``DemoFailed``."""
    import asyncio

    from cluster.dovecot import Dovecot, append_all, dovecot_binary, inbox_uids
    from cluster.invoice_samples import fonts_available, invoice_mail, scanned_invoice

    try:
        from cluster.smtp_sink import SmtpSink
    except ImportError:
        raise DemoFailed(
            STEPS[0], "aiosmtpd is missing: pip install 'robofleet[demo]' (make demo does)"
        ) from None
    if dovecot_binary() is None:
        raise DemoFailed(STEPS[0], "dovecot is not installed (apt-get install dovecot-imapd)")
    if not fonts_available():
        raise DemoFailed(
            STEPS[0], "the DejaVu fonts are missing (apt-get install fonts-dejavu-core)"
        )
    if shutil.which("tesseract") is None:
        raise DemoFailed(STEPS[0], "tesseract is not installed (apt-get install tesseract-ocr)")
    stack: list[Callable[[], None]] = []
    try:
        (root / "imap").mkdir()
        root.chmod(0o711)  # Dovecot run as root reads mail as its own user, down this path
        imap = Dovecot(root / "imap")
        imap.start()
        stack.append(imap.stop)
        smtp = SmtpSink().start()
        stack.append(smtp.stop)
        say.step(
            STEPS[0],
            f"IMAP server (Dovecot) on 127.0.0.1:{imap.port}, "
            f"SMTP server (aiosmtpd) on 127.0.0.1:{smtp.port}",
        )
        password_file = root / "imap-password"
        password_file.write_text(imap.password)
        password_file.chmod(0o600)
        config = root / "robofleet.toml"
        config.write_text(_config(imap.port, smtp.port, password_file))
        fleet = _Robofleet(config, root / "data")
        stack.append(fleet.stop)
        # drawn while robofleet starts: the scan the supplier's mail will carry
        sample = scanned_invoice()
        number = sample.truth["invoice_number"]
        mail = invoice_mail(sample.data, number)
        try:
            key = deadline.wait(STEPS[1], "robofleet to become ready", fleet.ready, 0.5)
        except DemoFailed as exc:
            tail = fleet.log_tail()
            raise DemoFailed(exc.step, f"{exc.reason}\n{tail}" if tail else exc.reason) from None
        say.step(
            STEPS[1],
            f"gateway {fleet.url}, Ray head 127.0.0.1:{fleet.ray_port}, "
            f"rule invoice.extract succeeded -> email to {RECIPIENT}",
        )
        client = GatewayClient(fleet.url, api_key=key)

        def watching() -> dict[str, Any] | None:
            page = _get(client, "/v1/mailboxes")
            boxes = {m["name"]: m for m in (page or {}).get("mailboxes", [])}
            box = boxes.get(MAILBOX)
            return box if box and box["state"] == "watching" else None

        deadline.wait(STEPS[2], "the email monitor to watch the mailbox", watching, 0.2)
        say.step(STEPS[2], f"email-monitor watches {MAILBOX} (accounts@127.0.0.1:{imap.port})")

        asyncio.run(append_all(imap.port, "accounts", imap.password, [mail], timeout_s=30))
        say.step(
            STEPS[3],
            f"APPEND 'Invoice {number} attached' from billing@supplier.example, "
            f"{len(sample.data) // 1024} KB image-only PDF (a scan skewed {sample.rotation} deg)",
        )
        uids = asyncio.run(inbox_uids(imap.port, "accounts", imap.password))
        say.step(STEPS[4], f"INBOX of accounts holds it as UID {uids[-1]}")

        def recorded() -> dict[str, Any] | None:
            page = _get(client, "/v1/mail", mailbox=MAILBOX)
            return page["mail"][0] if page and page["mail"] else None

        record = deadline.wait(STEPS[5], "the monitor to record the mail", recorded)
        confidence = record["confidence"]
        shown = f"{confidence:.2f}" if confidence is not None else "none"
        say.step(
            STEPS[5],
            f"mail {record['id']} recorded: class {record['class']}, confidence {shown} "
            f"(decided by {record['decided_by']}), {len(record['attachments'])} attachment",
        )
        if record["class"] != "invoice" or not record["robots"]:
            raise DemoFailed(STEPS[5], f"not an invoice with a robot: {record}")
        robot_id = record["robots"][0]
        robot = client.robot(robot_id)
        say.step(
            STEPS[6],
            f"robot {robot_id} ({robot['type']}, document "
            f"{robot['payload'].get('document_id', '?')[:12]}...) submitted at "
            f"{_clock(robot['created_at'])}, now {robot['status']}",
        )

        def finished() -> dict[str, Any] | None:
            current = client.robot(robot_id)
            return current if current["status"] in ("succeeded", "failed", "dead") else None

        robot = deadline.wait(STEPS[7], f"robot {robot_id} to finish", finished, 0.2)
        if robot["status"] != "succeeded":
            raise DemoFailed(STEPS[7], f"robot {robot_id} {robot['status']}: {robot['error']}")
        values = robot["result"]["values"]
        ocr = robot["result"]["ocr"]
        say.step(
            STEPS[7],
            f"OCR ({ocr['engine']}, confidence {ocr['confidence']:.0f}) and extraction took "
            f"{robot['result']['elapsed_s']:.1f} s: "
            + ", ".join(f"{name}={values.get(name)}" for name in FIELDS),
        )

        def delivery(states: tuple[str, ...]) -> Callable[[], dict[str, Any] | None]:
            def probe() -> dict[str, Any] | None:
                page = _get(client, "/v1/notifications", limit=50)
                for item in (page or {}).get("notifications", []):
                    if item["robot_id"] == robot_id and item["state"] in states:
                        return dict(item)
                return None

            return probe

        queued = deadline.wait(
            STEPS[8], "the rule's notification", delivery(("pending", "delivered", "dead"))
        )
        say.step(
            STEPS[8],
            f"notification {queued['id']} ({queued['channel']} to {queued['recipient']}) "
            f"written to the outbox at {_clock(queued['created_at'])}: '{queued['subject']}'",
        )
        done = deadline.wait(
            STEPS[9], "the notification's delivery", delivery(("delivered", "dead"))
        )
        last = done["attempts"][-1]
        if done["state"] != "delivered":
            raise DemoFailed(STEPS[9], f"dead after {len(done['attempts'])} attempts: {last}")
        say.step(
            STEPS[9],
            f"notification {done['id']} delivered on attempt {len(done['attempts'])} "
            f"at {_clock(last['at'])} (SMTP {last['status']}), "
            f"{last['at'] - robot['updated_at']:.2f} s after the robot succeeded",
        )

        received = deadline.wait(
            STEPS[10], "the SMTP server to receive the mail",
            lambda: smtp.mails[-1] if smtp.mails else None,
        )  # fmt: skip
        body = received.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        say.step(
            STEPS[10],
            f"SMTP server got '{received['Subject']}' for {received['To']} "
            f"(delivery id {received['X-Robofleet-Delivery-Id']}):",
            text,
        )
        wrong = [
            n for n in FIELDS if values.get(n) != sample.truth[n] or sample.truth[n] not in text
        ]
        if wrong:
            raise DemoFailed(
                STEPS[11],
                "fields differ from the invoice drawn: "
                + ", ".join(
                    f"{n} read {values.get(n)!r}, drawn {sample.truth[n]!r}" for n in wrong
                ),
            )
        say.step(STEPS[11], f"the mail carries all {len(FIELDS)} fields of the invoice drawn")
    finally:
        for stop in reversed(stack):
            stop()


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def run_demo(timeout_s: float = 240.0, keep: bool = False) -> int:
    """Run the demo; return 0 when the notification with the fields arrived, else 1.

    ``timeout_s`` bounds the whole flow (bring-up included); ``keep`` leaves the temp dir
    (configs, robofleet's and Dovecot's logs) in place for a look after.
    """
    say = _Printer()
    root = Path(tempfile.mkdtemp(prefix="robofleet-demo-"))
    code = 0
    # a SIGTERM (a CI timeout, `kill`) cleans up like Ctrl-C does
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _flow(say, _Deadline(time.monotonic() + timeout_s), root)
    except DemoFailed as exc:
        print(f"demo failed at step '{exc.step}': {exc.reason}", file=sys.stderr)
        if not keep:
            print(
                "(`robofleet demo --keep` keeps the servers' and robofleet's logs)", file=sys.stderr
            )
        code = 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # a server that did not start, an API answer not expected
        print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if keep:
            say.step(STEPS[12], f"stopped robofleet, Dovecot and the SMTP server; kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            say.step(STEPS[12], f"stopped robofleet, Dovecot and the SMTP server; removed {root}")
    return code


def add_demo_parser(sub: Any) -> None:
    """Add ``demo`` to the ``robofleet`` subcommands ``sub``."""
    demo = sub.add_parser(
        "demo", help="mail -> invoice -> notification, end to end, with throwaway servers"
    )
    demo.add_argument(
        "--timeout", type=float, default=240.0, help="seconds the whole demo may take (240)"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temp dir and its logs")
    demo.set_defaults(func=lambda args: run_demo(args.timeout, args.keep))
