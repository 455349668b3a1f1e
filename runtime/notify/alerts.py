"""Alertmanager's webhook payload, and the notifications ``on.alert`` rules make of it.

Alertmanager (``webhook_config``, payload version ``4``) posts a group of alerts, each with
its ``status`` (``firing`` or ``resolved``), ``labels``, ``annotations``, ``startsAt``,
``endsAt`` and ``fingerprint``. Each alert that matches a rule's ``on.alert`` (and its
``when``) becomes one outbox delivery per recipient of the rule's ``do.notify``, its
template rendered from the event document :func:`alert_event` builds::

    {"alert": {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint",
               "generatorURL"},
     "receiver", "externalURL", "groupLabels", "commonLabels", "commonAnnotations"}

Alertmanager sends a group again and again (every ``repeat_interval``, after a restart):
a firing is keyed by (rule, fingerprint, status, startsAt), the outbox keeps one delivery
per key, so a resend notifies nobody twice. A pure module: the gateway stores what it
answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from runtime.models import JsonInt
from runtime.notify.firing import notify_deliveries
from runtime.notify.outbox import Delivery
from runtime.notify.templates import TemplateRefused
from runtime.rules.firing import FiringOutcome, RuleFiring, firing_record
from runtime.rules.mapping import holds
from runtime.rules.model import Rule
from runtime.text import StoreText

__all__ = ["AlertBatch", "AlertFirings", "AlertmanagerAlert", "alert_event", "alert_firings"]

_Text = Annotated[StoreText, Field(max_length=10_000)]
# keys follow the value pattern pydantic writes under patternProperties (no NUL); no
# other key is allowed, so the schema says what the validator does
_Labels = Annotated[
    dict[Annotated[StoreText, Field(max_length=200)], _Text],
    Field(max_length=200, json_schema_extra={"additionalProperties": False}),
]


class AlertmanagerAlert(BaseModel):
    """One alert of Alertmanager's webhook payload."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: _Labels
    annotations: _Labels = Field(default_factory=dict)
    startsAt: AwareDatetime  # noqa: N815
    endsAt: AwareDatetime | None = None  # noqa: N815  (year 1 while the alert fires)
    generatorURL: Annotated[StoreText, Field(max_length=4000)] = ""  # noqa: N815
    fingerprint: Annotated[StoreText, Field(min_length=1, max_length=128)]


class AlertBatch(BaseModel):
    """Alertmanager's webhook payload (``version`` ``"4"``): a group of alerts."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Annotated[StoreText, Field(max_length=200)] = ""
    groupKey: Annotated[StoreText, Field(max_length=4000)] = ""  # noqa: N815
    truncatedAlerts: JsonInt = Field(0, ge=0)  # noqa: N815
    groupLabels: _Labels = Field(default_factory=dict)  # noqa: N815
    commonLabels: _Labels = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: _Labels = Field(default_factory=dict)  # noqa: N815
    externalURL: Annotated[StoreText, Field(max_length=4000)] = ""  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


def alert_event(batch: AlertBatch, alert: AlertmanagerAlert) -> dict[str, Any]:
    """The event document an alert's templates and ``when`` read (module docstring)."""
    return {
        "alert": alert.model_dump(mode="json"),
        "receiver": batch.receiver,
        "externalURL": batch.externalURL,
        "groupLabels": batch.groupLabels,
        "commonLabels": batch.commonLabels,
        "commonAnnotations": batch.commonAnnotations,
    }


def alert_source(alert: AlertmanagerAlert) -> str:
    """The firing source of an alert: what makes a resend the same firing."""
    # the instant, not its text: "06:00:00Z" and "06:00:00.000Z" are one alert
    started = alert.startsAt.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"alert:{alert.fingerprint}:{alert.status}:{started}"


@dataclass(slots=True)
class AlertFirings:
    """What a batch makes: each (alert, rule) firing with its deliveries (to record only
    when they are new: a resend finds them stored), and the firings that failed."""

    fired: list[tuple[RuleFiring, list[Delivery]]] = field(default_factory=list)
    failed: list[RuleFiring] = field(default_factory=list)


def alert_firings(rules: list[Rule], batch: AlertBatch, now: float | None = None) -> AlertFirings:
    """The deliveries and firings the ``on.alert`` rules among ``rules`` make of ``batch``.

    A rule whose ``when`` cannot be evaluated or whose template does not render records a
    ``failed`` firing and makes no delivery; raises nothing.
    """
    at = now if now is not None else time.time()
    out = AlertFirings()
    alert_rules = [r for r in rules if r.on.alert is not None and r.do.notify is not None]
    for alert in batch.alerts:
        event: dict[str, Any] | None = None
        source = alert_source(alert)
        for rule in alert_rules:
            assert rule.on.alert is not None and rule.do.notify is not None
            if not rule.on.alert.matches(alert.status, alert.labels):
                continue
            event = event or alert_event(batch, alert)
            try:
                if not holds(rule.when, event):
                    continue
                made = notify_deliveries(rule.id, rule.do.notify, event, source, now=at)
            except (ValueError, TemplateRefused) as exc:
                detail = f"{source}: {exc}"[:500]
                out.failed.append(
                    firing_record(rule.id, source, FiringOutcome.FAILED, None, detail, at)
                )
                continue
            detail = f"notify {rule.do.notify.channel.value}: " + ", ".join(d.id for d in made)
            firing = firing_record(rule.id, source, FiringOutcome.FIRED, None, detail[:500], at)
            out.fired.append((firing, made))
    return out
