"""Mail for the mail tests and benchmark: real MIME built with the stdlib, and a corpus of
malformed messages of the kinds real mailboxes hold (raw bytes, since ``email`` will not
build most of them)."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid

SUPPORT_SUBJECTS = (
    "Cannot log in to the customer portal",
    "Error when exporting the monthly report",
    "Password reset link does not work",
    "The app crashes when I upload a file",
)


def text_mail(subject: str, body: str, sender: str = "customer@example.org") -> bytes:
    """A plain text mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "ops@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(body)
    return msg.as_bytes()


def support_mail(n: int) -> bytes:
    """The ``n``-th of a run of support requests, each distinct."""
    subject = f"{SUPPORT_SUBJECTS[n % len(SUPPORT_SUBJECTS)]} (ticket {n})"
    body = (
        f"Hello support team,\n\nrequest number {n}: since this morning I get an error "
        "message and cannot continue working. Could you please help me fix it?\n\n"
        "Thanks, a customer"
    )
    return text_mail(subject, body)


def _zip_bomb(unpacked: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("invoice.pdf", b"\0" * unpacked)
    return buffer.getvalue()


def _raw(headers: str, body: str | bytes) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return headers.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + data


def malformed_corpus(big_attachment_mb: int = 30, bomb_mb: int = 60) -> dict[str, bytes]:
    """At least 12 kinds of broken mail, by kind."""
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    corpus: dict[str, bytes] = {}
    corpus["name_star_without_value"] = _raw(
        "From: a@example.org\nSubject: name star\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b1"\n',
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b1\r\n"
        "Content-Type: application/pdf; name*=\r\nContent-Disposition: attachment; filename*=\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
    )
    corpus["message_id_brackets"] = _raw(
        "From: a@example.org\nSubject: odd id\nMessage-ID: <[..]>\n", "body\r\n"
    )
    corpus["missing_boundary"] = _raw(
        "From: a@example.org\nSubject: no boundary\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed\n",
        "--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n",
    )
    corpus["eight_bit_header"] = (
        b"From: J\xf6rg <j@example.org>\r\nSubject: Gr\xfc\xdfe \xff\xfe\r\n\r\nbody\r\n"
    )
    corpus["broken_base64"] = _raw(
        "From: a@example.org\nSubject: broken base64\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n",
        "SGVsbG8gd29ybGQ=!!!@@@###$$$\r\nnot base64 at all\r\n",
    )
    corpus["unknown_charset"] = _raw(
        "From: a@example.org\nSubject: charset\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=x-no-such-charset\n",
        "caf\xe9\r\n",
    )
    corpus["bad_encoded_word"] = _raw(
        "From: =?utf-8?B?####?= <a@example.org>\nSubject: =?x-bogus?Q?broken=ZZ?=\n", "body\r\n"
    )
    nested = "Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for depth in range(40):
        nested = (
            f'Content-Type: multipart/mixed; boundary="n{depth}"\r\n\r\n--n{depth}\r\n'
            f"{nested}\r\n--n{depth}--\r\n"
        )
    corpus["deeply_nested"] = _raw("From: a@example.org\nSubject: nested\nMIME-Version: 1.0\n", "")[
        :-2
    ] + nested.encode()
    corpus["truncated_multipart"] = _raw(
        "From: a@example.org\nSubject: truncated\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="t"\n',
        "--t\r\nContent-Type: text/plain\r\n\r\nstart of a mail that never ends",
    )
    corpus["no_headers"] = b"just some text with no header at all\r\n"
    corpus["garbage_header_line"] = _raw(
        "From: a@example.org\nthis line is not a header\nSubject: after garbage\n", "body\r\n"
    )
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.org", "zip bomb"
    msg.set_content("see the archive")
    msg.add_attachment(
        _zip_bomb(bomb_mb * 1024 * 1024), maintype="application", subtype="zip", filename="a.zip"
    )
    corpus["zip_bomb"] = msg.as_bytes()
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.org", "huge attachment"
    msg.set_content("a big scan")
    big = pdf + b"0" * (big_attachment_mb * 1024 * 1024)
    msg.add_attachment(big, maintype="application", subtype="pdf", filename="big.pdf")
    corpus["huge_attachment"] = msg.as_bytes()
    corpus["not_a_document_pdf"] = _raw(
        "From: a@example.org\nSubject: fake pdf\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="f"\n',
        "--f\r\nContent-Type: text/plain\r\n\r\nfile\r\n--f\r\nContent-Type: application/pdf; "
        'name="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nbm90IGEgcGRm\r\n--f--\r\n',
    )
    return corpus
