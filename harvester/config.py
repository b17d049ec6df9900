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
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from sinks.sizes import DEFAULT_SPILL_LIMIT, parse_size

from .errors import ConfigError
from .planner import MAX_SLICE_DAYS
from .sources.custom.config import CustomStream, validate_streams
from .timeutil import parse_duration, parse_user_instant

__all__ = [
    "DEFAULT_ENDPOINT",
    "TOKEN_ENV",
    "ENDPOINT_ENV",
    "AbstraSettings",
    "AlertsSettings",
    "ApiSettings",
    "AutomationsSettings",
    "FlowsSettings",
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


EARLIEST_START = parse_user_instant("2015-01-01")  # before any Abstra data can exist
MAX_TIMEOUT_SECONDS = 24 * 3600.0
MIN_REQUESTS_PER_SECOND = 0.001  # one request every ~17 minutes; slower is a typo


class _Strict(BaseModel):
    # allow_inf_nan=False: `inf` or `nan` in any float key is an error, not an overflow later.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ApiSettings(_Strict):
    """What every HTTP source shares: where the API is, its token (from the
    environment only), and how long and how often to try a call."""

    section: ClassVar[str] = "abstra"  # the config section, for messages that say what to change

    endpoint: str
    token: SecretStr | None = Field(default=None, exclude=True)
    timeout_seconds: float = Field(default=300.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(default=6, ge=0, le=50)
    # A server that stops sending mid-reply is cut after this many seconds of silence.
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # Total seconds one partition or snapshot may spend on failed attempts and waits,
    # so a cron run ends even when a server fails slowly on every attempt.
    retry_budget_seconds: float = Field(default=900.0, gt=0, le=86_400)
    # A reply larger than this (after decompression) fails its partition: far below
    # the run's memory budget, far above any real page (500 entries are ~0.5 MB).
    max_reply_mb: int = Field(default=32, ge=1, le=1024)
    # ... and a reply holding more JSON values than this (bounded by its `{ [ , :`
    # bytes) too, so no reply costs more to parse than an ordinary one at the byte cap
    # (~200 MB): 30 MB of `{}` would cost ~700 MB. Ordinary JSON holds one such byte
    # in 10-15 (an ISO time holds two), so it trips near 20-30 MB; a page of 1,000
    # log entries holds ~20,000.
    max_reply_values: int = Field(default=2_000_000, ge=1_000, le=100_000_000)

    def settings_location(self) -> str:
        """Where this API's settings go, as a message that says to change one names it."""
        return f"[{self.section}]"

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {value!r} must start with http:// or https://")
        return value.rstrip("/")


class AbstraSettings(ApiSettings):
    """The Abstra cloud API: the Manager connector's streams and `[[custom]]` streams."""

    endpoint: str = DEFAULT_ENDPOINT
    connection: str = "abstra-manager"
    manager_streams: bool = True  # false: this section only carries the API for [[custom]] streams

    def settings_location(self) -> str:
        # A config of custom streams alone means manager_streams = false; a user who
        # adds [abstra] to raise a cap must keep it so, or the Manager's streams start.
        return "[abstra]" if self.manager_streams else "[abstra] (with manager_streams = false)"

    @field_validator("connection")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # "." and ".." survive URL escaping and would climb out of the execute path.
        if value.strip() in ("", ".", ".."):
            raise ValueError(f"connection {value!r} is not a connection name")
        return value


class AutomationsSettings(ApiSettings):
    """The automations API (seed 001): one organization, the listed workspaces."""

    section: ClassVar[str] = "automations"

    organization_id: str = Field(min_length=1)
    workspaces: tuple[str, ...] = Field(min_length=1)
    page_size: int = Field(default=1000, ge=1, le=1000)


class FlowsSettings(ApiSettings):
    """The flow-monitoring API (seed 003): execution counts and the tenants' logs."""

    section: ClassVar[str] = "flows"

    tenants: tuple[str, ...] = Field(min_length=1)
    group_by: tuple[Literal["user", "flow", "component"], ...] = ("user", "flow", "component")


class AlertsSettings(_Strict):
    """Where to POST the after-run alert (a flow's incoming webhook)."""

    webhook: str

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook {value!r} must start with http:// or https://")
        return value


class HarvestSettings(_Strict):
    start: Instant = Field(default_factory=lambda: parse_user_instant("2025-01-01"))
    streams: tuple[str, ...] | None = None  # stream or table names of any source; None: all
    lookback: Duration = timedelta(hours=2)
    slice_days: int = Field(default=MAX_SLICE_DAYS, ge=1, le=MAX_SLICE_DAYS)
    consumption_period_days: int = Field(default=1, ge=1, le=MAX_SLICE_DAYS)
    page_size: int = Field(default=500, ge=1, le=10_000)
    concurrency: int = Field(default=8, ge=1, le=256)
    requests_per_second: float = Field(default=0, ge=0)
    commit_rows: int = Field(default=20_000, ge=1)
    # Without a terminal, a `run.progress` log line this often (so a slow run is told from a hung one).
    progress_seconds: float = Field(default=10.0, gt=0, le=86_400)


    @field_validator("streams")
    @classmethod
    def _unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("is empty: list the streams to harvest, or remove the key to harvest them all")
        return tuple(dict.fromkeys(value))

    @field_validator("start")
    @classmethod
    def _not_before_the_platform(cls, value: datetime) -> datetime:
        if value < EARLIEST_START:
            raise ValueError(f"{value.date().isoformat()} is before 2015-01-01, when no Abstra data can exist; give a later start")
        return value

    @field_validator("requests_per_second")
    @classmethod
    def _a_usable_rate(cls, value: float) -> float:
        if 0 < value < MIN_REQUESTS_PER_SECOND:
            raise ValueError(f"{value:g} is too slow to finish; use 0 (no limit) or at least {MIN_REQUESTS_PER_SECOND:g}")
        return value


class WarehouseSettings(_Strict):
    duckdb: Path = Path("warehouse.duckdb")
    memory_limit: str = "48MB"
    parquet: str | None = None  # the Parquet lake: a folder or a URI (s3://bucket/prefix); None/"" = none
    query_spill_limit: str = DEFAULT_SPILL_LIMIT  # temporary disk one `sql` query may use

    @field_validator("duckdb")
    @classmethod
    def _home(cls, value: Path) -> Path:
        return value.expanduser()  # `~` means home here as in `parquet`, never a folder named "~"

    @field_validator("parquet")
    @classmethod
    def _lake_root(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if "://" in value and not value.split("://", 1)[1].strip("/"):
            raise ValueError(f"parquet {value!r} names no bucket or folder")
        if value and "://" not in value:
            value = str(Path(value).expanduser())
        return value or None

    @field_validator("query_spill_limit")
    @classmethod
    def _a_size(cls, value: str) -> str:
        try:
            parse_size(value)
        except ConfigError as exc:
            raise ValueError(str(exc).replace("memory limit", "size")) from None
        return value

    @property
    def local_parquet(self) -> bool:
        """The lake is a local folder (not a URI)."""
        return bool(self.parquet) and "://" not in str(self.parquet)


class Settings(_Strict):
    """Every section. A source is enabled by its section's presence; a config with no
    source section at all means `[abstra]` with its defaults. `[[custom]]` streams
    call through the Abstra API, so without `[abstra]` they bring it along with its
    defaults and `manager_streams = false` (only the custom streams are harvested)."""

    abstra: AbstraSettings | None = None
    custom: tuple[CustomStream, ...] = ()
    automations: AutomationsSettings | None = None
    flows: FlowsSettings | None = None
    alerts: AlertsSettings | None = None
    harvest: HarvestSettings = HarvestSettings()
    warehouse: WarehouseSettings = WarehouseSettings()

    @model_validator(mode="after")
    def _default_source(self) -> Settings:
        if self.abstra is None and self.custom:
            object.__setattr__(self, "abstra", AbstraSettings(manager_streams=False))
        elif not self.enabled_sections():
            object.__setattr__(self, "abstra", AbstraSettings())
        return self

    def enabled_sections(self) -> list[str]:
        """The source sections present, in registry order."""
        return [name for name in _SOURCE_SECTIONS if getattr(self, name, None)]

    def secrets(self) -> tuple[str, ...]:
        """Every token the run holds, for the log scrubber."""
        apis = (getattr(self, name) for name, _ in _TOKENS)
        return tuple(a.token.get_secret_value() for a in apis if a is not None and a.token is not None)

    def require_tokens(self) -> None:
        """Each enabled API's token, or a ConfigError naming the variable to set."""
        for name, variable in _TOKENS:
            api = getattr(self, name)
            if api is not None and (api.token is None or not api.token.get_secret_value()):
                raise ConfigError(f"no API token for [{name}]: set the environment variable {variable}")

    def require_token(self) -> SecretStr:
        """The Abstra token, or a ConfigError saying which variable to set."""
        if self.abstra is None or self.abstra.token is None or not self.abstra.token.get_secret_value():
            raise ConfigError(f"no API token: set the environment variable {TOKEN_ENV}")
        return self.abstra.token


# Source sections in registry order, and each API's (section, token variable, endpoint variable).
_SOURCE_SECTIONS = ("abstra", "automations", "flows")
_TOKENS = (("abstra", TOKEN_ENV), ("automations", "AUTOMATIONS_API_TOKEN"), ("flows", "FLOWS_API_TOKEN"))
_ENDPOINTS = {"abstra": ENDPOINT_ENV, "automations": "AUTOMATIONS_API_ENDPOINT", "flows": "FLOWS_API_ENDPOINT"}


def load_settings(
    path: Path | None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read `path` (optional), apply the environment, validate.

    Relative warehouse and lake paths are resolved against the config file's folder,
    so a crontab line works from any working directory.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = _read_toml(path) if path else {}
    for section in (*_SOURCE_SECTIONS, "alerts", *overrides):
        if not isinstance(data.get(section, {}), dict):
            source = f"{path}: " if path else ""
            raise ConfigError(f"{source}{section}: must be a table ([{section}]), not a single value")
    if "custom" in data:
        try:
            data["custom"] = validate_streams(data["custom"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
        if "abstra" not in data:
            data["abstra"] = {"manager_streams": False}
    if not any(name in data for name in _SOURCE_SECTIONS):
        data["abstra"] = {}
    for name, token in _TOKENS:
        if name in data:
            data[name] = _with_env(dict(data[name]), name, env, _ENDPOINTS[name], token)
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None
    _check_streams(settings)
    if path:
        warehouse = settings.warehouse
        update: dict[str, Any] = {}
        if not warehouse.duckdb.is_absolute():
            update["duckdb"] = (path.parent / warehouse.duckdb).resolve()
        if warehouse.local_parquet and not Path(str(warehouse.parquet)).is_absolute():
            update["parquet"] = str((path.parent / str(warehouse.parquet)).resolve())
        if update:
            settings = settings.model_copy(update={"warehouse": warehouse.model_copy(update=update)})
    return settings


def _check_streams(settings: Settings) -> None:
    """Stream names are checked against the enabled sources' streams and tables."""
    from .sources.registry import build_sources, resolve_streams

    try:
        resolve_streams(build_sources(settings), settings.harvest.streams)
    except ConfigError as exc:
        raise ConfigError(f"[harvest] streams: {exc}") from None


def _with_env(section: dict[str, Any], name: str, env: Mapping[str, str], endpoint: str, token: str) -> dict[str, Any]:
    """A source section with its endpoint and token taken from the environment.

    The token is read from the environment only: a token in a file is an error."""
    if "token" in section:
        raise ConfigError(f"[{name}] token: never put the token in a file; set {token}")
    if env.get(endpoint):
        section["endpoint"] = env[endpoint]
    if env.get(token):
        section["token"] = env[token]
    return section


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found: pass --config with an existing file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


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
