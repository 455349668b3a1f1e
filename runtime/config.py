"""Typed settings: environment variables ``ROBOFLEET_*`` and an optional TOML file."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.errors import ConfigError, validation_message
from runtime.mail.mailbox import MailboxSpec, MailSettings
from runtime.models import ModuleSpec
from runtime.notify.settings import NotifySettings, unknown_target
from runtime.rules.model import Rule
from runtime.token_bucket import RateLimit

BUILTIN_MODULES = [
    ModuleSpec.model_validate(
        {
            "name": "echo",
            "class": "runtime.builtin:Echo",
            "types": ["echo"],
            "replicas": 1,
            "max_concurrency": 64,
        }
    ),
    ModuleSpec.model_validate(
        {
            "name": "sleep",
            "class": "runtime.builtin:Sleep",
            "types": ["sleep"],
            "replicas": 2,
            "max_concurrency": 16,
        }
    ),
]
"""The modules of settings that name none; a deployment adds its own defaults with
``load_settings(default_modules=...)`` (a cluster adds the OCR pool)."""

OCR_MODULE = "ocr"


OCR_AUTOSCALING = {
    "min_replicas": 1,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 2.0,
    "downscale_delay_s": 60.0,
    "look_back_period_s": 10.0,
}
"""The OCR pool's autoscaling knobs; ``max_replicas`` is the machine's CPU count."""


def ocr_pool(class_path: str) -> ModuleSpec:
    """The OCR pool running ``class_path``: replicas named ``ocr:<n>``, each reserving a CPU,
    for both OCR robot types; it autoscales from one worker (idle) up to one per CPU, so an
    idle pool leaves the other CPUs to modules that ask for them. ``ocr_workers`` in the
    settings makes it a fixed pool of that size instead.

    Where Tesseract is missing, the module is refused with the reason in the log and the
    other modules deploy.
    """
    return ModuleSpec.model_validate(
        {
            "name": OCR_MODULE,
            "class": class_path,
            "types": ["ocr.extract", "invoice.extract"],
            "autoscaling": {**OCR_AUTOSCALING, "max_replicas": os.cpu_count() or 1},
            "max_concurrency": 2,
            "resources": {"num_cpus": 1},
            "replica_prefix": "ocr",
        }
    )


DEFAULT_RATE_LIMITS = {
    "admin": RateLimit(rate=10_000, burst=20_000),
    "operator": RateLimit(rate=2_000, burst=4_000),
    "viewer": RateLimit(rate=500, burst=1_000),
}


class Settings(BaseSettings):
    """Every knob of a robofleet deployment, with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="ROBOFLEET_", extra="ignore")

    data_dir: Path = Field(Path.home() / ".robofleet", description="SQLite store and documents.")
    database_url: str | None = Field(None, description="PostgreSQL DSN; SQLite when unset.")
    database_statement_cache_size: int = Field(
        100,
        ge=0,
        description="Prepared statements asyncpg caches per PostgreSQL connection; 0 behind a "
        "pooler in transaction mode (pgbouncer pool_mode=transaction).",
    )
    redis_url: str | None = Field(
        None, description="Redis URL for the shared cache and rate-limit tier."
    )
    config_file: Path | None = Field(None, description="TOML file with [[modules]] and settings.")

    ray_address: str | None = Field(
        None, description="Join this Ray cluster instead of starting one."
    )
    ray_port: int = Field(6380, description="Port of the Ray head started by `robofleet up`.")
    ray_host: str = Field(
        "127.0.0.1",
        description="Address of this machine the Ray head of `robofleet up` listens on and "
        "advertises; only loopback by default, since Ray has no authentication of its own.",
    )
    dashboard_port: int = Field(8265)
    metrics_export_port: int = Field(
        8090,
        description="Port of Ray's Prometheus metrics export (robofleet's actor metrics, "
        "prefixed ray_) on each node `robofleet up` or `join` starts.",
    )
    prometheus_url: str | None = Field(
        None,
        description="Prometheus the Ray dashboard queries for its charts "
        "(RAY_PROMETHEUS_HOST of the head `robofleet up` starts).",
    )
    namespace: str = Field("robofleet")

    gateway_host: str = Field("127.0.0.1")
    gateway_port: int = Field(8080)
    max_body_bytes: int = Field(1_048_576, description="Largest accepted request body.")
    submit_batch_max: int = Field(256, description="Most robots per gateway->orchestrator call.")
    submit_overlap_min: int = Field(
        32,
        ge=1,
        description="Robots waiting before a second gateway->orchestrator call may overlap "
        "the one in flight; fewer when fewer clients submit at once.",
    )

    max_queued_per_type: int = Field(100_000, description="Queue bound; past it submits get 429.")
    health_interval_s: float = Field(10.0)
    autoscaling_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Control interval of autoscaling: how often each autoscaled module's "
        "load is sampled and its replica count decided.",
    )
    health_timeout_s: float = Field(5.0)
    retry_base_s: float = Field(0.5)
    retry_max_s: float = Field(30.0)
    breaker_failures: int = Field(5)
    breaker_error_rate: float = Field(0.5)
    breaker_reset_s: float = Field(10.0)
    sqlite_synchronous: str = Field("NORMAL", pattern="^(OFF|NORMAL|FULL)$")

    cancel_grace_s: float = Field(
        10.0, gt=0, description="How long a running robot asked to cancel may take to stop."
    )
    events_poll_s: float = Field(
        0.25, gt=0, description="How often an event stream looks for changes of its robot."
    )

    key_cache_ttl_s: float = Field(
        2.0, ge=0, description="How long a validated API key is trusted without a store read."
    )
    redis_prefix: str = Field("robofleet:", description="Prefix of every Redis key robofleet uses.")
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="Token bucket per API key, by role (admin, operator, viewer).",
    )
    module_rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict,
        description="Extra token bucket per API key and module, for submits to that module.",
    )
    auth_failure_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(rate=1, burst=20),
        description="Failed authentications allowed per client address.",
    )

    cache_reads: bool = Field(
        True,
        description="Serve finished robots from the gateway's memory and first list pages "
        "through the cache actor (false: always the store).",
    )
    cache_gateway_max_entries: int = Field(
        50_000, ge=1, description="Most finished robots one gateway keeps in memory."
    )
    cache_gateway_max_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Most bytes of finished robots one gateway keeps."
    )
    cache_ttl_robot_s: float = Field(60.0, gt=0, description="TTL of a cached robot status.")
    cache_ttl_module_health_s: float = Field(300.0, gt=0, description="TTL of module health.")
    cache_ttl_performance_s: float = Field(600.0, gt=0, description="TTL of performance scores.")
    cache_ttl_config_s: float = Field(1800.0, gt=0, description="TTL of cached configuration.")
    cache_ttl_api_key_s: float = Field(60.0, gt=0, description="TTL of a cached API key record.")
    cache_max_entries: int = Field(100_000, ge=1, description="Most entries in cache memory.")
    cache_max_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Most cache memory bytes.")
    cache_compress_min_bytes: int = Field(2048, ge=0, description="Compress values this big.")
    cache_timeout_s: float = Field(
        0.25, gt=0, description="Longest wait for the cache actor before reading the store instead."
    )

    max_document_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest document POST /v1/documents accepts."
    )
    ocr_workers: int | None = Field(
        None,
        ge=0,
        le=256,
        description="A fixed number of replicas of the 'ocr' module (default: it autoscales "
        "from 1 to one per CPU).",
    )
    ocr_languages: list[Annotated[str, Field(pattern=r"^[A-Za-z_]{3,16}$")]] = Field(
        default_factory=lambda: ["eng"],
        min_length=1,
        description="Tesseract languages this deployment's OCR robots ask for (their "
        "settings.lang); `robofleet doctor` checks each is installed.",
    )

    modules: list[ModuleSpec] = Field(default_factory=lambda: list(BUILTIN_MODULES))
    rules: list[Rule] = Field(
        default_factory=list,
        description="Rules and schedules of the config file ([[rules]]), kept in the store.",
    )
    rule_chain_depth: int = Field(
        10,
        ge=1,
        le=1000,
        description="Most chain steps after a robot (rules firing on each other's robots); "
        "a step past it is not submitted and its firing is skipped with the reason.",
    )

    backup_dir: Path | None = Field(
        None, description="Where backups are kept (default: <data_dir>/backups)."
    )
    mailbox_secrets_dir: Path | None = Field(
        None,
        description="The only directory a password_file of a mailbox added through the API "
        "may lie in (default: <data_dir>/secrets).",
    )
    backup_interval_s: float = Field(
        86_400.0,
        ge=0,
        description="How often `robofleet up` takes, verifies and prunes a backup; 0: never.",
    )
    backup_keep_daily: int = Field(7, ge=0, description="Newest backups kept, one per day.")
    backup_keep_weekly: int = Field(4, ge=0, description="Newest backups kept, one per week.")
    backup_pitr: bool = Field(
        False,
        description="PostgreSQL: take a base backup with each backup and stream WAL while "
        "`robofleet up` runs, for `robofleet backup restore --to-time`.",
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="Directory of pg_dump, pg_basebackup, ... (default: PATH, then the "
        "newest /usr/lib/postgresql/*/bin).",
    )
    mailboxes: list[MailboxSpec] = Field(
        default_factory=list, description="[[mailboxes]] the email-monitor watches."
    )
    mail: MailSettings = Field(
        default_factory=MailSettings, description="[mail]: actions, rules, bounds."
    )
    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="[notify]: webhook endpoints, the SMTP server, retry schedules.",
    )

    @model_validator(mode="after")
    def _ocr_pool_size(self) -> Settings:
        # Only when there is a pool to resize: an assignment marks ``modules`` as given, and
        # load_settings must still see settings that name no modules as naming none.
        if self.ocr_workers is not None and any(m.name == OCR_MODULE for m in self.modules):
            self.modules = [
                m.model_copy(update={"replicas": self.ocr_workers, "autoscaling": None})
                if m.name == OCR_MODULE
                else m
                for m in self.modules
            ]
        return self

    @model_validator(mode="after")
    def _notify_targets(self) -> Settings:
        for rule in self.rules:
            problem = unknown_target(rule.do.notify, self.notify) if rule.do.notify else None
            if problem is not None:
                raise ValueError(f"rule {rule.id!r}: {problem}")
        return self

    def role_rate_limit(self, role: str) -> RateLimit:
        """The token bucket of a role: configured, else the default, else the viewer's."""
        return (
            self.rate_limits.get(role)
            or DEFAULT_RATE_LIMITS.get(role)
            or DEFAULT_RATE_LIMITS["viewer"]
        )

    def documents_dir(self) -> Path:
        """Where uploaded documents are stored, content-addressed (on the head node)."""
        return self.data_dir.expanduser() / "documents"

    def backups_dir(self) -> Path:
        """Where backups are kept: ``backup_dir``, else ``<data_dir>/backups``."""
        return (self.backup_dir or self.data_dir / "backups").expanduser()

    def mailbox_secrets(self) -> Path:
        """Where password files of mailboxes added through the API must lie (head node)."""
        return (self.mailbox_secrets_dir or self.data_dir / "secrets").expanduser()

    def mail_dir(self) -> Path:
        """Where raw mail and the learned mail model are kept (on the head node)."""
        return self.data_dir.expanduser() / "mail"

    def gateway_url(self) -> str:
        """The URL clients use to reach the local gateway."""
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "::") else self.gateway_host
        return f"http://{host}:{self.gateway_port}"


def load_settings(
    config_file: str | Path | None = None,
    *,
    default_modules: Sequence[ModuleSpec] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings: defaults, then the TOML file, then ``ROBOFLEET_*``, then overrides.

    ``default_modules`` replaces :data:`BUILTIN_MODULES` when neither the file, the
    environment nor ``overrides`` name modules. Raises ``ConfigError`` on an unreadable
    file or invalid values.
    """
    try:
        settings = Settings(config_file=Path(config_file)) if config_file else Settings()
        values: dict[str, Any] = {}
        if settings.config_file is not None:
            path = Path(settings.config_file).expanduser()
            try:
                values = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        merged = {**values, **settings.model_dump(exclude_unset=True), **overrides}
        if "modules" in values:
            merged["modules"] = [ModuleSpec.model_validate(m) for m in values["modules"]]
        elif default_modules is not None and "modules" not in merged:
            merged["modules"] = list(default_modules)
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {validation_message(exc, 'settings')}") from None
