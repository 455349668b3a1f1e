"""Mail triage core, importable without Ray: the class model and PII redaction.

    model = MailClassifier.load(None)                  # the shipped model
    label, probability = model.predict(subject, body)  # one of CLASSES, 0..1
    text, kinds = redact(body)                         # "[EMAIL]" ..., frozenset({"email"})
"""

from runtime.mail.classify import CLASSES, MailClassifier, UnknownClass
from runtime.mail.pii import PII_KINDS, redact

__all__ = ["CLASSES", "PII_KINDS", "MailClassifier", "UnknownClass", "redact"]
