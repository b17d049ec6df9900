"""Turning "harvest these streams over this range" into partitions. Pure: no I/O, no clock.

A partition is one cursor chain (or one call, for consumption): a stream, a half-open
window `[start, end)` of at most 31 days, and the projects it covers. Its `key` is
derived from those alone, so the same backfill planned twice yields the same keys and
a killed run resumes from the checkpoints stored under them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .streams import Scope, Stream
from .timeutil import floor_day, format_wire

__all__ = [
    "MAX_BATCH",
    "MAX_SLICE_DAYS",
    "Partition",
    "batch_projects",
    "day_slices",
    "plan_backfill",
    "plan_incremental",
    "slice_range",
]

MAX_SLICE_DAYS = 31
MAX_BATCH = 100
ORG = ""  # the scope id of organization-wide partitions
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Partition:
    """One unit of fetching: a chain of pages over one window for one set of projects."""

    stream: str
    start: datetime
    end: datetime
    project_ids: tuple[str, ...] = ()
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = "|".join(
            (self.stream, format_wire(self.start), format_wire(self.end), *self.project_ids)
        )
        object.__setattr__(self, "key", hashlib.sha256(text.encode()).hexdigest()[:24])

    def label(self) -> str:
        """Short human description for logs and errors."""
        who = ""
        if len(self.project_ids) == 1:
            who = f" project={self.project_ids[0]}"
        elif self.project_ids:
            who = f" projects={len(self.project_ids)}"
        return f"{self.stream} [{format_wire(self.start)}, {format_wire(self.end)}){who}"


def slice_range(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Cut `[start, end)` into consecutive half-open slices of at most `days` days.

    Slices are anchored at `start`, so re-planning the same range yields the same
    slices (and the same partition keys).
    """
    if not 1 <= days <= MAX_SLICE_DAYS:
        raise ValueError(f"slice_days must be between 1 and {MAX_SLICE_DAYS}, got {days}")
    width = timedelta(days=days)
    slices = []
    cursor = start
    while cursor < end:
        stop = min(cursor + width, end)
        slices.append((cursor, stop))
        cursor = stop
    return slices


def day_slices(start: datetime, end: datetime, period_days: int = 1) -> list[tuple[datetime, datetime]]:
    """UTC-day-aligned periods covering `[start, end)`, clipped to `end`.

    Consumption is stored per period, so periods start at midnight UTC whatever the
    run's start: an hourly cron run re-reads today's (partial) period. Periods of
    several days lie on a fixed grid counted from 1970-01-01, so runs that start on
    different days still cut the same periods (and never store overlapping ones).
    """
    if not 1 <= period_days <= MAX_SLICE_DAYS:
        raise ValueError(f"period_days must be between 1 and {MAX_SLICE_DAYS}, got {period_days}")
    slices = []
    step = timedelta(days=period_days)
    cursor = floor_day(start)
    cursor -= (cursor - _EPOCH) % step
    while cursor < end:
        slices.append((cursor, min(cursor + step, end)))
        cursor += step
    return slices


def batch_projects(project_ids: Iterable[str], size: int = MAX_BATCH) -> list[tuple[str, ...]]:
    """Sorted, de-duplicated project ids in batches of at most `size` (the API's cap)."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {size}")
    ordered = sorted(set(project_ids))
    return [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]


def _stream_partitions(
    stream: Stream,
    start: datetime,
    end: datetime,
    project_ids: Sequence[str],
    slice_days: int,
    consumption_days: int,
) -> Iterator[Partition]:
    if stream.scope is Scope.ORG:
        for s, e in slice_range(start, end, slice_days):
            yield Partition(stream.name, s, e)
    elif stream.scope is Scope.PROJECT_BATCH:
        for batch in batch_projects(project_ids):
            for s, e in slice_range(start, end, slice_days):
                yield Partition(stream.name, s, e, batch)
    elif stream.scope is Scope.PROJECT:
        windows = (
            day_slices(start, end, consumption_days)
            if stream.name == "consumption"
            else slice_range(start, end, slice_days)
        )
        for pid in sorted(set(project_ids)):
            for s, e in windows:
                yield Partition(stream.name, s, e, (pid,))


def plan_backfill(
    streams: Iterable[Stream],
    start: datetime,
    end: datetime,
    project_ids: Sequence[str],
    *,
    slice_days: int = MAX_SLICE_DAYS,
    consumption_days: int = 1,
) -> list[Partition]:
    """Every windowed partition for `[start, end)`. Snapshot streams have none."""
    if end <= start:
        raise ValueError(f"empty range: {format_wire(start)} is not before {format_wire(end)}")
    return [
        p
        for stream in streams
        for p in _stream_partitions(stream, start, end, project_ids, slice_days, consumption_days)
    ]


def plan_incremental(
    streams: Iterable[Stream],
    project_ids: Sequence[str],
    covered_until: dict[tuple[str, str], datetime],
    *,
    default_start: datetime,
    now: datetime,
    lookback: timedelta,
    slice_days: int = MAX_SLICE_DAYS,
    consumption_days: int = 1,
) -> list[Partition]:
    """The partitions of an incremental run ending at `now` (captured once per run).

    `covered_until[(stream, scope_id)]` is the furthest window end already planned for a
    scope (`ORG` for organization-wide streams, else a project id). Each scope restarts
    at that mark minus `lookback`, or at `default_start` when it has none. Projects of
    a batched stream that share a restart point are batched together, so the common
    case (all projects harvested to the same mark) costs the minimum number of chains.
    """
    partitions: list[Partition] = []
    for stream in streams:
        if stream.scope is Scope.ORG:
            start = _restart(covered_until.get((stream.name, ORG)), default_start, lookback)
            if start < now:
                partitions.extend(_stream_partitions(stream, start, now, (), slice_days, consumption_days))
        elif stream.scope in (Scope.PROJECT, Scope.PROJECT_BATCH):
            by_start: dict[datetime, list[str]] = defaultdict(list)
            for pid in sorted(set(project_ids)):
                start = _restart(covered_until.get((stream.name, pid)), default_start, lookback)
                if start < now:
                    by_start[start].append(pid)
            for start, pids in sorted(by_start.items()):
                partitions.extend(
                    _stream_partitions(stream, start, now, pids, slice_days, consumption_days)
                )
    return partitions


def _restart(mark: datetime | None, default_start: datetime, lookback: timedelta) -> datetime:
    if mark is None:
        return default_start
    return max(default_start, mark - lookback)
