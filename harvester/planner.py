"""The planning pieces every source shares. Pure: no I/O, no clock.

Windows are half-open `[start, end)` slices of at most 31 days anchored at the
range's start (so re-planning the same range yields the same partition keys), or
UTC-day-aligned periods; scope ids are batched at most 100 at a time. An incremental
run restarts each (stream, scope) at its mark minus the lookback (`restart`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from state.partitions import Partition

from .timeutil import floor_day

__all__ = [
    "MAX_BATCH",
    "MAX_SLICE_DAYS",
    "Partition",
    "batch_projects",
    "day_slices",
    "restart",
    "slice_range",
]

MAX_SLICE_DAYS = 31
MAX_BATCH = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def restart(mark: datetime | None, default_start: datetime, lookback: timedelta) -> datetime:
    """Where an incremental run resumes a scope: its mark minus the lookback, never
    before the configured start; the start itself when the scope has no mark."""
    if mark is None:
        return default_start
    return max(default_start, mark - lookback)
