"""The simulated flow platform's data: its config, its people and flows, its history, its truth.

Deterministic and lazy like the Abstra simulator: each day's executions and each
tenant-day's logs come from their own seeded RNG, so any day can be generated alone,
in any order, and always comes out the same. The generator knows what it made, so
`FlowsWorld.truth` states the expected warehouse rows without parsing any reply.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harvester.records import content_id
from harvester.simulator.config import FAULT_KINDS, TRANSIENT_FAULTS
from harvester.simulator.faults import TRANSPORT_FAULTS
from harvester.simulator.rand import derive_rng, hex_id, uuid_like
from harvester.timeutil import format_wire

__all__ = [
    "COUNT_FORMS",
    "COUNT_WRAPPERS",
    "FLOWS_FAULTS",
    "GROUPINGS",
    "LOG_SHAPES",
    "FlowsSimConfig",
    "FlowsTruth",
    "FlowsWorld",
    "LogEntry",
    "render_counts",
    "render_logs",
]

GROUPINGS = ("user", "flow", "component")
COUNT_FORMS = ("mapping", "list", "list_id", "list_name")
COUNT_WRAPPERS = ("data", "items", "results")
LOG_SHAPES = ("list", "data", "logs", "items", "results")
# the faults that mean something here: every transport fault, and the two data faults
# that do not assume Abstra's paging
FLOWS_FAULTS = tuple(k for k in FAULT_KINDS if k in TRANSPORT_FAULTS or k in ("truncated_json", "html_200"))
_COMPONENTS = ("http-request", "email", "ai-prompt", "database", "spreadsheet", "slack", "pdf", "webhook")
_MESSAGES = ("Step started", "Step completed", "Record processed", "Message sent")
_ERRORS = ("Step failed: timeout", "Step failed: 401 from upstream", "Invalid input: missing field", "Quota exceeded")


class FlowsSimConfig(BaseModel):
    """Every knob of the flows simulator; all have defaults; frozen.

    History covers the `days` UTC days ending with `today` (the server's "today", the
    default `end` of a count query). `users` is a count or the list of user names, so
    a demo can reuse the Abstra simulator's member emails. `counts_shape` is
    `[wrapper.]form` (`mapping`, `data.list`, `results.list_id`, ...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    today: date = date(2025, 6, 1)
    days: int = Field(default=30, ge=1)
    users: int | tuple[str, ...] = 6
    flows: int = Field(default=5, ge=1)
    steps_per_flow: int = Field(default=4, ge=1)
    components: int = Field(default=4, ge=1)
    tenants: tuple[str, ...] = ("tenant-1", "tenant-2")
    executions_per_day: float = Field(default=40, ge=0)
    logs_per_day: float = Field(default=8, ge=0)  # per tenant
    error_rate: float = Field(default=0.2, ge=0, le=1)
    missing_id_rate: float = Field(default=0.1, ge=0, le=1)
    missing_time_rate: float = Field(default=0.1, ge=0, le=1)
    counts_shape: str = "mapping"
    logs_shape: str = "data"
    log_style: Literal["camel", "snake"] = "camel"  # id/flowId/createdAt ISO, or _id/flow_id/timestamp ms
    token: str = "sim-token"
    latency_ms: float = Field(default=0, ge=0)
    rate_limit_rps: float = Field(default=0, ge=0)
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    fault_kinds: tuple[str, ...] = tuple(k for k in TRANSIENT_FAULTS if k in FLOWS_FAULTS)
    hang_seconds: float = Field(default=30.0, ge=0)

    @field_validator("users")
    @classmethod
    def _some_users(cls, value: int | tuple[str, ...]) -> int | tuple[str, ...]:
        if (value if isinstance(value, int) else len(value)) < 1:
            raise ValueError("users must be at least 1 (a count or a list of names)")
        return value

    @field_validator("counts_shape")
    @classmethod
    def _count_shape(cls, value: str) -> str:
        wrapper, _, form = value.rpartition(".")
        if form not in COUNT_FORMS or wrapper not in ("", *COUNT_WRAPPERS):
            raise ValueError(
                f"counts_shape {value!r}: use [wrapper.]form, wrapper one of {', '.join(COUNT_WRAPPERS)}, "
                f"form one of {', '.join(COUNT_FORMS)}"
            )
        return value

    @field_validator("logs_shape")
    @classmethod
    def _log_shape(cls, value: str) -> str:
        if value not in LOG_SHAPES:
            raise ValueError(f"logs_shape {value!r}: choose from {', '.join(LOG_SHAPES)}")
        return value

    @field_validator("fault_kinds")
    @classmethod
    def _known_faults(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in value if k not in FLOWS_FAULTS]
        if unknown:
            raise ValueError(f"fault kind {unknown[0]!r} does not apply here: choose from {', '.join(FLOWS_FAULTS)}")
        return value

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.days - 1)


@dataclass(frozen=True)
class LogEntry:
    """One log entry as generated: what the wire shows and what the warehouse should hold."""

    tenant: str
    wire: dict[str, Any]
    flow_id: str
    step_id: str
    created_at: datetime | None
    is_error: bool

    @property
    def key(self) -> str:
        """The `flow_logs` key: the entry's id, else the hash of what the wire shows."""
        for name in ("id", "_id"):
            if name in self.wire:
                return str(self.wire[name])
        return content_id(self.wire)


@dataclass(frozen=True)
class FlowsTruth:
    """Expected rows: counts per (day, group_by, key), and logs per key."""

    counts: dict[tuple[date, str, str], int]
    logs: dict[str, dict[str, Any]]


def _poisson_like(rng: random.Random, mean: float) -> int:
    """A non-negative whole number around `mean` (normal approximation is plenty here)."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean)))) if mean > 0 else 0


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


class FlowsWorld:
    """Users, flows, components and tenants, with executions and logs generated per day."""

    def __init__(self, config: FlowsSimConfig) -> None:
        self.config = config
        rng = derive_rng(config.seed, "flows-world")
        users = config.users
        self.users = list(users) if isinstance(users, tuple) else [f"user{i + 1}@acme.example" for i in range(users)]
        self.flows = [f"flow-{hex_id(rng)[:12]}" for _ in range(config.flows)]
        self.components = [
            _COMPONENTS[i % len(_COMPONENTS)] + ("" if i < len(_COMPONENTS) else f"-{i // len(_COMPONENTS) + 1}")
            for i in range(config.components)
        ]
        self._counts: dict[date, dict[str, Counter[str]]] = {}
        self._logs: dict[tuple[str, date], list[LogEntry]] = {}
        self._live: dict[str, list[LogEntry]] = {tenant: [] for tenant in config.tenants}

    # --- executions ---

    def day_counts(self, day: date) -> dict[str, Counter[str]]:
        """Executions of one day counted by each grouping ({} outside the history)."""
        if not self.config.first_day <= day <= self.config.today:
            return {g: Counter() for g in GROUPINGS}
        if day not in self._counts:
            rng = derive_rng(self.config.seed, "executions", day.isoformat())
            runs = [
                (rng.choice(self.users), rng.choice(self.flows), rng.choice(self.components))
                for _ in range(_poisson_like(rng, self.config.executions_per_day))
            ]
            self._counts[day] = {g: Counter(run[i] for run in runs) for i, g in enumerate(GROUPINGS)}
        return self._counts[day]

    def counts(self, start: date, end: date, group_by: str) -> dict[str, int]:
        """Executions over `[start, end]` (both inclusive) by `group_by`; zero counts left out."""
        total: Counter[str] = Counter()
        for day in _days(max(start, self.config.first_day), min(end, self.config.today)):
            total.update(self.day_counts(day)[group_by])
        return dict(sorted(total.items()))

    # --- logs ---

    def _entry(self, rng: random.Random, tenant: str, created_at: datetime, error_rate: float) -> LogEntry:
        config = self.config
        flow = rng.choice(self.flows)
        step = f"{flow}-step-{rng.randint(1, config.steps_per_flow)}"
        is_error = rng.random() < error_rate
        has_id = rng.random() >= config.missing_id_rate
        has_time = rng.random() >= config.missing_time_rate
        message = rng.choice(_ERRORS if is_error else _MESSAGES)
        camel = config.log_style == "camel"
        wire: dict[str, Any] = {}
        if has_id:
            wire["id" if camel else "_id"] = uuid_like(rng)
        wire["flowId" if camel else "flow_id"] = flow
        wire["stepId" if camel else "step_id"] = step
        if has_time:
            ms = int(created_at.timestamp() * 1000)
            wire["createdAt" if camel else "timestamp"] = format_wire(created_at) if camel else ms
        wire["level"] = "error" if is_error else "info"
        wire["message"] = message
        wire["executionId" if camel else "execution_id"] = hex_id(rng)  # keeps id-less entries distinct
        return LogEntry(tenant, wire, flow, step, created_at if has_time else None, is_error)

    def day_logs(self, tenant: str, day: date) -> list[LogEntry]:
        """One tenant's log entries of one day, oldest first."""
        if (tenant, day) not in self._logs:
            rng = derive_rng(self.config.seed, "logs", tenant, day.isoformat())
            midnight = datetime.combine(day, datetime.min.time(), UTC)
            offsets = sorted(rng.randrange(86_400_000) for _ in range(_poisson_like(rng, self.config.logs_per_day)))
            self._logs[tenant, day] = [
                self._entry(rng, tenant, midnight + timedelta(milliseconds=ms), self.config.error_rate)
                for ms in offsets
            ]
        return self._logs[tenant, day]

    def logs(self, tenant: str) -> list[LogEntry]:
        """Every entry of a tenant (history, then injected ones); [] for an unknown tenant."""
        if tenant not in self._live:
            return []
        history = [e for day in _days(self.config.first_day, self.config.today) for e in self.day_logs(tenant, day)]
        return history + self._live[tenant]

    def inject_logs(
        self, tenant: str, count: int, *, errors: bool = False, at: datetime | None = None
    ) -> list[LogEntry]:
        """New entries for a tenant (all errors, or none), for incremental-run and alert tests."""
        if tenant not in self._live:
            raise ValueError(f"unknown tenant {tenant!r}: the config has {', '.join(self.config.tenants)}")
        live = self._live[tenant]
        when = at or datetime.combine(self.config.today, datetime.min.time(), UTC) + timedelta(hours=12)
        rng = derive_rng(self.config.seed, "live", tenant, len(live))
        rate = 1.0 if errors else 0.0
        new = [self._entry(rng, tenant, when + timedelta(milliseconds=i), rate) for i in range(count)]
        live.extend(new)
        return new

    # --- truth ---

    def truth(self, days: Iterable[date], group_by: Iterable[str] = GROUPINGS) -> FlowsTruth:
        """The rows a harvest of `days` (counts) and of every tenant's logs should hold."""
        groupings = tuple(group_by)
        counts = {
            (day, g, key): n for day in days for g in groupings for key, n in sorted(self.day_counts(day)[g].items())
        }
        logs: dict[str, dict[str, Any]] = {}
        for tenant in self.config.tenants:
            for entry in self.logs(tenant):
                logs.setdefault(entry.key, {
                    "tenant": tenant,
                    "flow_id": entry.flow_id,
                    "step_id": entry.step_id,
                    "created_at": entry.created_at,
                    "is_error": entry.is_error,
                })
        return FlowsTruth(counts, logs)


def render_counts(counts: dict[str, int], group_by: str, shape: str) -> Any:
    """Counts in one of the reply shapes the harvester must accept."""
    wrapper, _, form = shape.rpartition(".")
    body: Any
    if form == "mapping":
        body = dict(counts)
    elif form == "list":
        body = [{group_by: key, "count": n} for key, n in counts.items()]
    elif form == "list_id":
        body = [{"id": key, "executions": n} for key, n in counts.items()]
    else:  # list_name
        body = [{"name": key, "total": n} for key, n in counts.items()]
    if wrapper == "data":
        return {"status": "success", "data": body}
    if wrapper:
        return {wrapper: body, "total": len(counts)}
    return body


def render_logs(entries: list[LogEntry], shape: str) -> Any:
    body = [entry.wire for entry in entries]
    return body if shape == "list" else {shape: body}
