"""Executions and consumption of one project on one UTC day.

Executions are stored with their *final* status; whether one still shows as
"running" depends on the simulator's clock at the moment it is served, which is
how the harvester's "newest copy wins" rule gets exercised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .entities import Project
from .rand import day_prefix, derive_rng, ms_of_day_to_wire, uuid_like

__all__ = [
    "COUNTER_METRICS",
    "Execution",
    "GAUGE_METRICS",
    "RUNNING_FOR",
    "consumption_day",
    "generate_executions",
    "make_execution",
    "nest_metrics",
]

RUNNING_FOR = timedelta(minutes=10)
_DAY_MS = 86_400_000

GAUGE_METRICS = ("tables.rows", "files.storageBytes")
COUNTER_METRICS = (
    "emailNotifications.sent",
    "aiPrompts.count",
    "aiPrompts.tokens",
    "documentAi.pages",
    "agentRuns.count",
    "cpu.seconds",
    "ram.gbSeconds",
)


@dataclass(frozen=True)
class Execution:
    created_at: str
    id: str
    final_status: str
    build_id: str
    stage_id: str
    stage_name: str

    def to_json(self, clock: datetime) -> dict[str, Any]:
        """The wire shape, with the status as seen at `clock`."""
        created = datetime.fromisoformat(self.created_at)
        status = "running" if created > clock - RUNNING_FOR else self.final_status
        return {
            "id": self.id,
            "status": status,
            "buildId": self.build_id,
            "stageId": self.stage_id,
            "stageName": self.stage_name,
            "createdAt": self.created_at,
        }


def _build_id(seed: int, project: Project, day: date) -> str:
    """Builds change weekly, so executions of a week share a buildId."""
    week = day.toordinal() // 7
    return uuid_like(derive_rng(seed, "build", project.id, week))


def make_execution(seed: int, project: Project, rng: random.Random, created: str) -> Execution:
    runnable = [s for s in project.stages if s.kind != "page"] or list(project.stages)
    stage = rng.choice(runnable)
    status = "failed" if rng.random() < 0.12 else "finished"
    day = date.fromisoformat(created[:10])
    return Execution(created, uuid_like(rng), status, _build_id(seed, project, day), stage.id, stage.title)


def generate_executions(
    seed: int, project: Project, day: date, mean: float, history: tuple[datetime, datetime]
) -> list[Execution]:
    """The project's executions that day, ascending by (createdAt, id)."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if day_start >= history[1] or day_start + timedelta(days=1) <= history[0]:
        return []
    rng = derive_rng(seed, "executions", project.id, day.isoformat())
    expected = mean * rng.uniform(0.5, 1.5)
    n = int(expected) + (rng.random() < expected - int(expected))
    prefix = day_prefix(day)
    out = []
    for _ in range(n):
        created = ms_of_day_to_wire(prefix, rng.randrange(_DAY_MS))
        if history[0] <= datetime.fromisoformat(created) < history[1]:
            out.append(make_execution(seed, project, rng, created))
    out.sort(key=lambda e: (e.created_at, e.id))
    return out


def consumption_day(seed: int, project: Project, day: date, history: tuple[datetime, datetime]) -> dict[str, float]:
    """Flattened metrics of one day: counters for that day, gauges at its end.

    Days outside the history report zeros, so sums over any window stay exact.
    """
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not history[0] <= day_start < history[1]:
        return {name: 0 for name in (*GAUGE_METRICS, *COUNTER_METRICS)}
    base = derive_rng(seed, "consumption-base", project.id)
    rows0, rows_growth = base.randrange(100, 50_000), base.randrange(0, 400)
    bytes0, bytes_growth = base.randrange(10**6, 10**10), base.randrange(0, 5 * 10**7)
    age = (day_start - history[0]).days
    rng = derive_rng(seed, "consumption", project.id, day.isoformat())
    prompts = rng.randrange(0, 200)
    return {
        "tables.rows": rows0 + rows_growth * age,
        "files.storageBytes": bytes0 + bytes_growth * age,
        "emailNotifications.sent": rng.randrange(0, 300),
        "aiPrompts.count": prompts,
        "aiPrompts.tokens": prompts * rng.randrange(200, 3000),
        "documentAi.pages": rng.randrange(0, 50),
        "agentRuns.count": rng.randrange(0, 40),
        "cpu.seconds": round(rng.uniform(0, 20_000), 3),
        "ram.gbSeconds": round(rng.uniform(0, 40_000), 3),
    }


def nest_metrics(flat: dict[str, float]) -> dict[str, Any]:
    """`{"a.b": 1}` → `{"a": {"b": 1}}`: the reply's shape."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        out.setdefault(head, {})[tail] = value
    return out
