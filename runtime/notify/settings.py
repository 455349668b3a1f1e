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
from runtime.token_bucket import RateLimit

__all__ = [
    "DEFAULT_CHANNEL_LIMITS",
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


DEFAULT_CHANNEL_LIMITS: dict[Channel, RateLimit] = {
    Channel.WEBHOOK: RateLimit(rate=100, burst=200),
    Channel.EMAIL: RateLimit(rate=20, burst=100),
    Channel.APPRISE: RateLimit(rate=2, burst=10),
}
"""Sends per second (and at once) per channel unless ``[notify] rate_limits`` says
otherwise: SMS and chat services throttle hardest, SMTP relays next. In-app deliveries
are only stored, so they have none unless one is configured."""


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
    rate_limits: dict[Channel, RateLimit] = Field(
        default_factory=dict,
        description="Token bucket per channel (sends per second, burst); a channel not "
        "named keeps its default (DEFAULT_CHANNEL_LIMITS).",
    )
    poll_s: float = Field(
        5.0,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="Longest sleep between passes: a fallback, since whoever writes "
        "deliveries (the orchestrator, a gateway) wakes the notifier.",
    )
    concurrency: int = Field(16, ge=1, le=1000, description="Sends in flight at once.")
    batch: int = Field(200, ge=1, le=10_000, description="Due deliveries read per pass.")
    stream_heartbeat_s: float = Field(
        15.0,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="Quiet seconds before a notification stream sends a keep-alive comment.",
    )

    def schedule(self, channel: Channel) -> tuple[float, ...]:
        """The retry schedule of ``channel``: its own, else the Standard Webhooks one."""
        own = self.retry_schedule.get(channel)
        return tuple(own) if own else STANDARD_SCHEDULE

    def rate_limit(self, channel: Channel) -> RateLimit | None:
        """The token bucket of ``channel``: its own, else its default (None: unlimited)."""
        return self.rate_limits.get(channel) or DEFAULT_CHANNEL_LIMITS.get(channel)

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
    return _env_words(f"apprise {target.name}", target.urls_env, environ)


def endpoint_secrets(
    endpoint: WebhookEndpoint, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The endpoint's signing secrets (newest first); raises ``ConfigError`` naming the
    variable (never its value) when it is unset or empty."""
    return _env_words(f"webhook {endpoint.name}", endpoint.secrets_env, environ)


def _env_words(owner: str, variable: str, environ: Mapping[str, str] | None) -> list[str]:
    """The whitespace-separated words of ``variable``; ``ConfigError`` naming ``owner`` and
    the variable (never its value) when it is unset or empty."""
    env = os.environ if environ is None else environ
    words = env.get(variable, "").split()
    if not words:
        raise ConfigError(f"{owner}: environment variable {variable} is not set")
    return words


def smtp_password(server: SmtpServer, environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from ``password_env``, or None when no login is configured."""
    if server.password_env is None:
        return None
    env = os.environ if environ is None else environ
    value = env.get(server.password_env)
    if not value:
        raise ConfigError(f"smtp: environment variable {server.password_env} is not set")
    return value
