"""Issue 18, must-show 5: ``robofleet demo`` as a user runs it (a subprocess, its own
Dovecot, SMTP server and robofleet) prints every step of mail -> invoice -> notification in
order, and the mail the SMTP server received carries the invoice's fields."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cluster.demo import STEPS
from cluster.dovecot import dovecot_binary
from cluster.invoice_samples import scanned_invoice
from tests.integration.conftest import ROOT, service_missing


@pytest.mark.timeout(450)
def test_demo_prints_each_step_and_the_mail_carries_the_invoice_fields() -> None:
    if dovecot_binary() is None:
        service_missing("dovecot is not installed (apt-get install dovecot-imapd)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBOFLEET_")}
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "cluster.cli", "demo", "--timeout", "240"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = demo.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        demo.terminate()  # the demo stops its servers and robofleet on SIGTERM
        stdout, stderr = demo.communicate(timeout=120)
    took = time.monotonic() - started
    print(f"\nrobofleet demo took {took:.1f} s:\n{stdout}")
    assert demo.returncode == 0, f"{stdout}\n{stderr}"

    lines = stdout.splitlines()
    # each step once, in order: `HH:MM:SS.mmm  +S.SSs  <step>  <text>`
    found = [next(i for i, line in enumerate(lines) if f"s  {step} " in line) for step in STEPS]
    assert found == sorted(found), [lines[i] for i in found]

    def line(step: str) -> str:
        return next(text for text in lines if f"s  {step} " in text)

    assert "class invoice, confidence" in line("mail classified")
    assert "invoice.extract" in line("robot submitted")
    delivered = line("notification delivered")
    assert "delivered on attempt 1 at" in delivered and "(SMTP 250)" in delivered

    truth = scanned_invoice().truth
    extracted = line("fields extracted")
    for name, value in truth.items():
        assert f"{name}={value}" in extracted, (name, extracted)

    # the received mail's body, printed under its step as `| ...` lines
    start = lines.index(line("mail received"))
    body = [text.split("| ", 1)[1] for text in lines[start + 1 :] if "| " in text]
    assert f"Invoice {truth['invoice_number']} from {truth['vendor']}" in line("mail received")
    assert f"  Invoice number: {truth['invoice_number']}" in body
    assert f"  Vendor:         {truth['vendor']}" in body
    assert f"  Date:           {truth['date']}" in body
    assert f"  Total:          {truth['total']} {truth['currency']}" in body
    assert f"  Tax:            {truth['tax']}" in body
    assert "removed" in line("cleaned up") and "robofleet-demo-" in line("cleaned up")
