"""Which robots a classified mail becomes: the ``[mail] actions`` of its class.

Each robot's idempotency key is the mail's key (``mailbox:UIDVALIDITY:UID``) plus the
action and attachment index, and its payload depends only on the mail, so processing the
same mail again (after a crash) asks for the same robots and the store answers with the
ones it already holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from runtime.mail.mailbox import MailAction
from runtime.models import Robot, RobotRequest, new_robot_id

__all__ = ["AttachedDocument", "plan_robots"]


@dataclass(slots=True, frozen=True)
class AttachedDocument:
    """An attachment stored in the documents store: its id, file name and media type."""

    document_id: str
    filename: str
    media_type: str


def plan_robots(
    key: str, mail_class: str, actions: list[MailAction], documents: list[AttachedDocument]
) -> list[Robot]:
    """The robots of one mail, in a stable order; none for a class without actions.

    A ``per_attachment`` action makes one robot per document (none without documents);
    another makes one robot with every document's id in its payload.
    """
    robots: list[Robot] = []
    now = time.time()
    for n, action in enumerate(actions):
        mail = {"key": key, "class": mail_class}
        if action.per_attachment:
            payloads = [
                (f"{key}:{n}:{i}", {"document_id": d.document_id, "filename": d.filename,
                                    "mail": mail})
                for i, d in enumerate(documents)
            ]  # fmt: skip
        else:
            docs = [d.document_id for d in documents]
            payloads = [(f"{key}:{n}", {"documents": docs, "mail": mail})]
        for idem, payload in payloads:
            request = RobotRequest(
                type=action.type, payload=payload, priority=action.priority, idempotency_key=idem
            )
            robots.append(Robot.accepted(new_robot_id(), request, now))
    return robots
