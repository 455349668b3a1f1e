"""Reading mail: every malformed kind is read as far as it goes, with its reason recorded."""

from __future__ import annotations

import pytest

from cluster.invoice_samples import invoice_mail
from runtime.errors import ConfigError
from runtime.mail.mailbox import MailboxSpec, MailRule, MailSettings, mailbox_password
from runtime.mail.parse import parse_mail
from runtime.mail.plan import AttachedDocument, plan_robots
from tests.mail_samples import malformed_corpus, support_mail

LIMITS = MailSettings(
    max_attachment_bytes=1024 * 1024, max_unpacked_bytes=1024 * 1024, max_message_bytes=4096
)
CORPUS = malformed_corpus(big_attachment_mb=2, bomb_mb=2)


def test_the_corpus_has_at_least_twelve_kinds() -> None:
    assert len(CORPUS) >= 12


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_each_malformed_mail_is_read_with_its_reason(kind: str) -> None:
    mail = parse_mail(CORPUS[kind], LIMITS)
    assert mail.problems, kind
    assert all(isinstance(p, str) and p for p in mail.problems)


def test_reasons_name_what_went_wrong() -> None:
    reasons = {kind: " ".join(parse_mail(raw, LIMITS).problems) for kind, raw in CORPUS.items()}
    assert "zip bomb" in reasons["zip_bomb"]
    assert "over the limit" in reasons["huge_attachment"]
    assert "compat32" in reasons["message_id_brackets"]
    assert "NoBoundary" in reasons["missing_boundary"]
    assert "8-bit" in reasons["eight_bit_header"]
    assert "nested deeper" in reasons["deeply_nested"]


def test_html_is_sanitised_to_text() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Pay <b>now</b><script>alert(1)</script> &amp; thanks</p>"
    )
    mail = parse_mail(raw, LIMITS)
    assert "Pay now" in mail.text and "& thanks" in mail.text
    assert "alert" not in mail.text and "<" not in mail.text


def test_a_pdf_attachment_is_found_and_good_mail_has_no_problems() -> None:
    pdf = b"%PDF-1.4\n%%EOF\n"
    mail = parse_mail(invoice_mail(pdf, "INV-1"), MailSettings())
    assert [a.media_type for a in mail.attachments] == ["application/pdf"]
    assert mail.attachments[0].data == pdf and mail.problems == []
    assert parse_mail(support_mail(3), MailSettings()).problems == []


def test_robots_per_attachment_carry_keys_from_the_mail() -> None:
    settings = MailSettings()
    docs = [AttachedDocument("a" * 64, "a.pdf", "application/pdf"),
            AttachedDocument("b" * 64, "b.pdf", "application/pdf")]  # fmt: skip
    robots = plan_robots("box:7:42", "invoice", settings.actions["invoice"], docs)
    assert [r.type for r in robots] == ["invoice.extract", "invoice.extract"]
    assert [r.idempotency_key for r in robots] == ["box:7:42:0:0", "box:7:42:0:1"]
    assert robots[1].payload["document_id"] == "b" * 64
    assert plan_robots("box:7:43", "spam", settings.actions["spam"], docs) == []


def test_rules_and_filters() -> None:
    rule = MailRule.model_validate(
        {"class": "invoice", "subject": "factura", "has_attachment": True}
    )
    assert rule.matches("x@y", "Su FACTURA de mayo", "", 1)
    assert not rule.matches("x@y", "Su factura", "", 0)
    spec = MailboxSpec(
        name="ap", host="h", user="u", password_env="P", from_filter=r"@supplier\.example$"
    )
    assert spec.accepts("billing@supplier.example", "", 0) is None
    assert spec.accepts("x@other.example", "", 0) == "sender does not match from_filter"


def test_password_comes_from_env_or_file_and_is_never_in_the_error(tmp_path) -> None:
    spec = MailboxSpec(name="ap", host="h", user="u", password_env="MAIL_PW")
    assert mailbox_password(spec, {"MAIL_PW": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError, match="MAIL_PW is not set"):
        mailbox_password(spec, {})
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    spec = MailboxSpec(name="ap", host="h", user="u", password_file=str(secret))
    assert mailbox_password(spec, {}) == "from-file"
    with pytest.raises(ValueError, match="password_env or password_file"):
        MailboxSpec(name="ap", host="h", user="u")
    with pytest.raises(ValueError):
        MailboxSpec.model_validate({"name": "ap", "host": "h", "user": "u", "password": "x",
                                    "password_env": "P"})  # fmt: skip
