"""``[notify]`` of the config: webhook endpoints, the SMTP server, retry schedules.

Secrets never sit in the config: an endpoint's ``secrets_env`` names an environment
variable holding its signing secrets (``whsec_...``, several separated by spaces while a
rotation overlaps: each send then carries one signature per secret), and the SMTP
password is read likewise from ``password_env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import ConfigError
from runtime.notify.model import Channel, NotifyAction
from runtime.notify.outbox import STANDARD_SCHEDULE

__all__ = [
    "AppriseTarget",
    "apprise_target",
    "apprise_urls",
    "NotifySettings",
    "SmtpServer",
    "WebhookEndpoint",
    "endpoint_secrets",
    "smtp_password",
    "unknown_target",
]

_Delay = Annotated[float, Field(ge=0, le=7 * 86_400, allow_inf_nan=False)]


ENDPOINT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
"""The pattern of a webhook endpoint's or an Apprise target's name."""


class WebhookEndpoint(BaseModel):
    """One webhook receiver a rule names as a recipient."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ENDPOINT_NAME)
    url: str = Field(pattern=r"^https?://", max_length=2000)
    secrets_env: str = Field(
        min_length=1, description="Environment variable with the signing secret(s)."
    )
    timeout_s: float = Field(15.0, gt=0, le=300, allow_inf_nan=False)


class AppriseTarget(BaseModel):
    """SMS and chat services a rule names as a recipient: Apprise URLs, read from the
    environment variable ``urls_env`` (several separated by spaces) since they hold tokens."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ENDPOINT_NAME)
    urls_env: str = Field(min_length=1, description="Environment variable with the URL(s).")
    timeout_s: float = Field(15.0, gt=0, le=300, allow_inf_nan=False)


class SmtpServer(BaseModel):
    """The SMTP server email notifications go through."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("robofleet@localhost", min_length=3, max_length=320)
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    use_tls: bool = Field(False, description="Connect with TLS from the start (port 465).")
    username: str | None = None
    password_env: str | None = Field(None, description="Environment variable with the password.")
    timeout_s: float = Field(30.0, gt=0, le=300, allow_inf_nan=False)


class NotifySettings(BaseModel):
    """``[notify]``: where notifications go and how often they are retried."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookEndpoint] = Field(default_factory=list)
    smtp: SmtpServer | None = None
    apprise: list[AppriseTarget] = Field(default_factory=list)
    retry_schedule: dict[Channel, list[_Delay]] = Field(
        default_factory=dict,
        description="Seconds before each attempt, per channel (default: Standard Webhooks).",
    )
    poll_s: float = Field(1.0, gt=0, le=60, allow_inf_nan=False)
    concurrency: int = Field(16, ge=1, le=1000, description="Sends in flight at once.")
    batch: int = Field(200, ge=1, le=10_000, description="Due deliveries read per pass.")

    def schedule(self, channel: Channel) -> tuple[float, ...]:
        """The retry schedule of ``channel``: its own, else the Standard Webhooks one."""
        own = self.retry_schedule.get(channel)
        return tuple(own) if own else STANDARD_SCHEDULE

    def endpoint(self, name: str) -> WebhookEndpoint | None:
        """The webhook endpoint called ``name``, or None."""
        return next((e for e in self.webhooks if e.name == name), None)


def apprise_target(settings: NotifySettings, name: str) -> AppriseTarget | None:
    """The Apprise target called ``name``, or None."""
    return next((t for t in settings.apprise if t.name == name), None)


def unknown_target(action: NotifyAction, settings: NotifySettings) -> str | None:
    """Why ``action`` names a target ``settings`` does not have (a webhook endpoint or an
    Apprise target not in ``[notify]``, or email with no ``[notify.smtp]``), else None.

    Rules are checked with this when saved, so a typo is refused at once rather than dead
    lettered at the first firing. Email addresses and in-app key ids are not checked here.
    """
    if action.channel is Channel.EMAIL and settings.smtp is None:
        return "channel email: no [notify.smtp] server is configured"
    if action.channel is Channel.WEBHOOK:
        kind, table = "webhook endpoint", "[[notify.webhooks]]"
        names = {e.name for e in settings.webhooks}
    elif action.channel is Channel.APPRISE:
        kind, table = "Apprise target", "[[notify.apprise]]"
        names = {t.name for t in settings.apprise}
    else:
        return None
    unknown = [r.to for r in action.recipients if r.to not in names]
    if not unknown:
        return None
    listed = ", ".join(repr(n) for n in sorted(names)) or "none"
    return (
        f"unknown {kind} {', '.join(repr(u) for u in unknown)}: recipients of channel "
        f"{action.channel.value} are names of {table} in the config (configured: {listed})"
    )


def apprise_urls(target: AppriseTarget, environ: Mapping[str, str] | None = None) -> list[str]:
    """The target's Apprise URLs; raises ``ConfigError`` naming the variable (never its
    value) when it is unset or empty."""
    env = os.environ if environ is None else environ
    urls = env.get(target.urls_env, "").split()
    if not urls:
        raise ConfigError(
            f"apprise {target.name}: environment variable {target.urls_env} is not set"
        )
    return urls


def endpoint_secrets(
    endpoint: WebhookEndpoint, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The endpoint's signing secrets (newest first); raises ``ConfigError`` naming the
    variable (never its value) when it is unset or empty."""
    env = os.environ if environ is None else environ
    secrets = env.get(endpoint.secrets_env, "").split()
    if not secrets:
        raise ConfigError(
            f"webhook {endpoint.name}: environment variable {endpoint.secrets_env} is not set"
        )
    return secrets


def smtp_password(server: SmtpServer, environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from ``password_env``, or None when no login is configured."""
    if server.password_env is None:
        return None
    env = os.environ if environ is None else environ
    value = env.get(server.password_env)
    if not value:
        raise ConfigError(f"smtp: environment variable {server.password_env} is not set")
    return value
