"""Planning the Abstra streams into partitions. Pure: no I/O, no clock.

Organization-wide log streams get one chain per slice; project action logs one per
(batch of <=100 projects, slice); executions one per (project, slice); consumption one
call per (project, UTC period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from state.partitions import Partition

from ...planner import MAX_SLICE_DAYS, batch_projects, day_slices, restart, slice_range
from ...timeutil import format_wire
from .streams import Scope, Stream

__all__ = ["ORG", "plan_backfill", "plan_incremental"]

ORG = ""  # the scope id of organization-wide partitions


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
            start = restart(covered_until.get((stream.name, ORG)), default_start, lookback)
            if start < now:
                partitions.extend(_stream_partitions(stream, start, now, (), slice_days, consumption_days))
        elif stream.scope in (Scope.PROJECT, Scope.PROJECT_BATCH):
            by_start: dict[datetime, list[str]] = defaultdict(list)
            for pid in sorted(set(project_ids)):
                start = restart(covered_until.get((stream.name, pid)), default_start, lookback)
                if start < now:
                    by_start[start].append(pid)
            for start, pids in sorted(by_start.items()):
                partitions.extend(
                    _stream_partitions(stream, start, now, pids, slice_days, consumption_days)
                )
    return partitions


