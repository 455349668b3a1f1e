"""Typed settings: environment variables ``ROBOFLEET_*`` and an optional TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.errors import ConfigError
from runtime.models import ModuleSpec

DEFAULT_MODULES = [
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


class Settings(BaseSettings):
    """Every knob of a robofleet deployment, with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="ROBOFLEET_", extra="ignore")

    data_dir: Path = Field(Path.home() / ".robofleet", description="SQLite store and documents.")
    database_url: str | None = Field(None, description="PostgreSQL DSN; SQLite when unset.")
    redis_url: str | None = Field(None, description="Redis URL for the shared cache tier.")
    config_file: Path | None = Field(None, description="TOML file with [[modules]] and settings.")

    ray_address: str | None = Field(
        None, description="Join this Ray cluster instead of starting one."
    )
    ray_port: int = Field(6380, description="Port of the Ray head started by `robofleet up`.")
    dashboard_port: int = Field(8265)
    namespace: str = Field("robofleet")

    gateway_host: str = Field("127.0.0.1")
    gateway_port: int = Field(8080)
    max_body_bytes: int = Field(1_048_576, description="Largest accepted request body.")
    submit_batch_max: int = Field(256, description="Most robots per gateway->orchestrator call.")

    max_queued_per_type: int = Field(100_000, description="Queue bound; past it submits get 429.")
    health_interval_s: float = Field(10.0)
    health_timeout_s: float = Field(5.0)
    retry_base_s: float = Field(0.5)
    retry_max_s: float = Field(30.0)
    breaker_failures: int = Field(5)
    breaker_error_rate: float = Field(0.5)
    breaker_reset_s: float = Field(10.0)
    sqlite_synchronous: str = Field("NORMAL", pattern="^(OFF|NORMAL|FULL)$")

    modules: list[ModuleSpec] = Field(default_factory=lambda: list(DEFAULT_MODULES))

    def gateway_url(self) -> str:
        """The URL clients use to reach the local gateway."""
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "::") else self.gateway_host
        return f"http://{host}:{self.gateway_port}"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings: defaults, then the TOML file, then ``ROBOFLEET_*``, then overrides."""
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
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
