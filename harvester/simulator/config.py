"""What a simulated organization looks like and how badly its server behaves.

One pydantic model so a test, the demo and the benchmark can each describe the
organization they need in a line (`SimConfig(projects=3, malformed_rate=0.01)`), and
so `harvester simulate --config sim.json` can load the same thing from a file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..sources.abstra.streams import LOG_STREAM_ACTIONS

__all__ = [
    "DEFAULT_EVENTS_PER_DAY",
    "FAULT_KINDS",
    "LOG_ACTIONS",
    "LOG_STREAMS",
    "SimConfig",
    "TRANSIENT_FAULTS",
]

LOG_STREAMS: tuple[str, ...] = tuple(LOG_STREAM_ACTIONS)
LOG_ACTIONS: dict[str, str] = {action: name for name, (action, _) in LOG_STREAM_ACTIONS.items()}

DEFAULT_EVENTS_PER_DAY: dict[str, float] = {
    "organization_action_logs": 20,
    "project_action_logs": 200,
    "auth_attempt_logs": 60,
    "email_notification_logs": 40,
    "connector_action_logs": 300,
    "ai_prompt_logs": 50,
}

FAULT_KINDS: tuple[str, ...] = (
    "http_429",
    "http_429_zero",
    "http_429_date",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "reset_before_headers",
    "reset_after_headers",
    "timeout",
    "truncated_json",
    "html_200",
    "empty_page_with_cursor",
    "cursor_loop",
    "total_count_drift",
)

# the random faults a retrying client should shrug off; the default `fault_kinds`
TRANSIENT_FAULTS: tuple[str, ...] = (
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "reset_before_headers",
    "reset_after_headers",
    "truncated_json",
)

_DEFAULT_END = datetime(2025, 6, 1, tzinfo=UTC)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class SimConfig(BaseModel):
    """Every knob of the simulator. All fields have defaults; the result is frozen.

    History covers `[start, end)`; `start` defaults to 90 days before `end`.
    `events_per_day` is the mean number of entries per UTC day for the whole
    organization, per log stream; streams left out keep their default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    folders: int = Field(default=3, ge=1)
    projects: int = Field(default=12, ge=1)
    members: int = Field(default=8, ge=1)
    start: datetime | None = None
    end: datetime = _DEFAULT_END
    events_per_day: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENTS_PER_DAY))
    executions_per_project_per_day: float = Field(default=5, ge=0)
    clock: datetime | None = None  # fixed "now"; None = real time
    token: str = "sim-token"
    connection: str = "abstra-manager"
    max_limit: int = Field(default=1000, ge=1)
    error_http_status: int = 400
    latency_ms: float = Field(default=0, ge=0)
    rate_limit_rps: float = Field(default=0, ge=0)
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    fault_kinds: list[str] = Field(default_factory=lambda: list(TRANSIENT_FAULTS))
    hang_seconds: float = Field(default=30.0, ge=0)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    missing_id_rate: float = Field(default=0.0, ge=0, le=1)
    arrivals_per_request: int = Field(default=0, ge=0)
    upstream_error_rate: float = Field(default=0.0, ge=0, le=1)  # custom action: upstream 429/5xx
    cache_entries: int = Field(default=100_000, ge=1)  # generated entries kept in memory (~500 B each)
    # a connector of another shape, for `harvester check`: Manager actions the connection
    # lacks, actions it offers under another name (real name -> offered name), the widest
    # window the log actions accept, and how far the `Date` header runs ahead of real time
    hidden_actions: tuple[str, ...] = ()
    renamed_actions: dict[str, str] = Field(default_factory=dict)
    max_window_days: int = Field(default=31, ge=1)
    date_skew_seconds: float = 0.0

    @field_validator("end", "start", "clock")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware_utc(value)

    @field_validator("events_per_day")
    @classmethod
    def _known_streams(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(LOG_STREAMS))
        if unknown:
            raise ValueError(f"unknown log stream {unknown[0]!r}: choose from {', '.join(LOG_STREAMS)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("events_per_day values must be >= 0")
        return {**DEFAULT_EVENTS_PER_DAY, **value}

    @field_validator("fault_kinds")
    @classmethod
    def _known_faults(cls, value: list[str]) -> list[str]:
        unknown = [k for k in value if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind {unknown[0]!r}: choose from {', '.join(FAULT_KINDS)}")
        return value

    @model_validator(mode="after")
    def _window(self) -> SimConfig:
        if self.start is None:
            object.__setattr__(self, "start", self.end - timedelta(days=90))
        assert self.start is not None
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @property
    def history_start(self) -> datetime:
        """`start`, typed as always set (the validator fills it)."""
        assert self.start is not None
        return self.start
