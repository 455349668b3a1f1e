"""Mail triage core, importable without Ray: the class model and PII redaction.

    model = MailClassifier.load(None)                  # the shipped model
    label, probability = model.predict(subject, body)  # one of CLASSES, 0..1
    text, kinds = redact(body)                         # "[EMAIL]" ..., frozenset({"email"})

The names load on first use: the settings import ``runtime.mail.mailbox``, and every
process that reads settings should not pay for importing scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["CLASSES", "PII_KINDS", "MailClassifier", "UnknownClass", "redact"]

_HOMES = {
    "CLASSES": "runtime.mail.classify",
    "MailClassifier": "runtime.mail.classify",
    "UnknownClass": "runtime.mail.classify",
    "PII_KINDS": "runtime.mail.pii",
    "redact": "runtime.mail.pii",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'runtime.mail' has no attribute {name!r}")
    return getattr(import_module(home), name)
