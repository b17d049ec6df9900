"""Settings: built once from a TOML file and the environment, then passed down.

Unknown keys are an error naming the key, because a typo like `lookbak` silently
falling back to a default is exactly the bug a cron job never reports. The token is
read from `ABSTRA_API_TOKEN` only and kept as a `SecretStr`, so it never shows in a
repr, a log line or a validation error.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from .errors import ConfigError
from .planner import MAX_SLICE_DAYS
from .streams import ALL_STREAMS, parse_stream_names
from .timeutil import parse_duration, parse_user_instant

__all__ = [
    "DEFAULT_ENDPOINT",
    "TOKEN_ENV",
    "ENDPOINT_ENV",
    "AbstraSettings",
    "HarvestSettings",
    "Settings",
    "WarehouseSettings",
    "load_settings",
]

DEFAULT_ENDPOINT = "https://cloud-api.abstra.cloud"
TOKEN_ENV = "ABSTRA_API_TOKEN"
ENDPOINT_ENV = "CLOUD_API_ENDPOINT"


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return parse_user_instant(value.isoformat())
    return parse_user_instant(str(value), what="start")


def _duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(str(value))


Instant = Annotated[datetime, BeforeValidator(_instant)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AbstraSettings(_Strict):
    endpoint: str = DEFAULT_ENDPOINT
    connection: str = "abstra-manager"
    token: SecretStr | None = Field(default=None, exclude=True)
    timeout_seconds: float = Field(default=300.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=50)
    # A server that stops sending mid-reply is cut after this many seconds of silence.
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # Total seconds one partition or snapshot may spend on failed attempts and waits,
    # so a cron run ends even when a server fails slowly on every attempt.
    retry_budget_seconds: float = Field(default=900.0, gt=0, le=86_400)
    # A reply larger than this (after decompression) fails its partition: far below
    # the run's memory budget, far above any real page (500 entries are ~0.5 MB).
    max_reply_mb: int = Field(default=32, ge=1, le=1024)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("connection")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # "." and ".." survive URL escaping and would climb out of the execute path.
        if value.strip() in ("", ".", ".."):
            raise ValueError(f"connection {value!r} is not a connection name")
        return value


class HarvestSettings(_Strict):
    start: Instant = Field(default_factory=lambda: parse_user_instant("2025-01-01"))
    streams: tuple[str, ...] = tuple(ALL_STREAMS)
    lookback: Duration = timedelta(hours=2)
    slice_days: int = Field(default=MAX_SLICE_DAYS, ge=1, le=MAX_SLICE_DAYS)
    consumption_period_days: int = Field(default=1, ge=1, le=MAX_SLICE_DAYS)
    page_size: int = Field(default=500, ge=1, le=10_000)
    concurrency: int = Field(default=8, ge=1, le=256)
    requests_per_second: float = Field(default=0, ge=0)
    commit_rows: int = Field(default=5_000, ge=1)

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s.name for s in parse_stream_names(list(value)))


class WarehouseSettings(_Strict):
    duckdb: Path = Path("warehouse.duckdb")
    memory_limit: str = "32MB"
    parquet: str | None = None  # the Parquet lake: a folder or a URI (s3://bucket/prefix); None/"" = none

    @field_validator("parquet")
    @classmethod
    def _lake_root(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if "://" in value and not value.split("://", 1)[1].strip("/"):
            raise ValueError(f"parquet {value!r} names no bucket or folder")
        return value or None

    @property
    def local_parquet(self) -> bool:
        """The lake is a local folder (not a URI)."""
        return bool(self.parquet) and "://" not in str(self.parquet)


class Settings(_Strict):
    abstra: AbstraSettings = AbstraSettings()
    harvest: HarvestSettings = HarvestSettings()
    warehouse: WarehouseSettings = WarehouseSettings()

    def require_token(self) -> SecretStr:
        """The token, or an AuthError-free ConfigError saying which variable to set."""
        if self.abstra.token is None or not self.abstra.token.get_secret_value():
            raise ConfigError(f"no API token: set the environment variable {TOKEN_ENV}")
        return self.abstra.token


def load_settings(
    path: Path | None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read `path` (optional), apply the environment, validate.

    Relative warehouse and lake paths are resolved against the config file's folder,
    so a crontab line works from any working directory.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = _read_toml(path) if path else {}
    for section in ("abstra", *overrides):
        if not isinstance(data.get(section, {}), dict):
            source = f"{path}: " if path else ""
            raise ConfigError(f"{source}{section}: must be a table ([{section}]), not a single value")
    abstra = dict(data.get("abstra", {}))
    if env.get(ENDPOINT_ENV):
        abstra["endpoint"] = env[ENDPOINT_ENV]
    if "token" in abstra:
        raise ConfigError(f"[abstra] token: never put the token in a file; set {TOKEN_ENV}")
    if env.get(TOKEN_ENV):
        abstra["token"] = env[TOKEN_ENV]
    data["abstra"] = abstra
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None
    if path:
        warehouse = settings.warehouse
        update: dict[str, Any] = {}
        if not warehouse.duckdb.is_absolute():
            update["duckdb"] = (path.parent / warehouse.duckdb).resolve()
        if warehouse.local_parquet and not Path(str(warehouse.parquet)).expanduser().is_absolute():
            update["parquet"] = str((path.parent / str(warehouse.parquet)).resolve())
        if update:
            settings = settings.model_copy(update={"warehouse": warehouse.model_copy(update=update)})
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found: pass --config with an existing file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _one_line(exc: ValidationError, path: Path | None) -> str:
    """The first problem, as `where: what`, never echoing an input value that could be
    the token (pydantic's default message includes `input_value`)."""
    err = exc.errors()[0]
    section, *rest = [str(p) for p in err["loc"]] or [""]
    where_label = f"[{section}] {'.'.join(rest)}" if rest else section
    if err["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
    source = f"{path}: " if path else ""
    return f"{source}{where_label}: {message}"
