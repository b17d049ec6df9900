"""What a run is asked to do: a backfill of a range, or an incremental run.

Plain values, in a module of their own so the CLI can build them without importing
the runner (and DuckDB, aiohttp) for commands that never harvest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Backfill", "Incremental"]


@dataclass(frozen=True)
class Backfill:
    """Harvest `[start, end)` for `streams` (None: the configured ones)."""

    start: datetime
    end: datetime
    streams: tuple[str, ...] | None = None
    full: bool = False


@dataclass(frozen=True)
class Incremental:
    """From each stream's high-water mark minus lookback to the run's start.

    `full` asks sources to re-read what they would skip as unchanged."""

    streams: tuple[str, ...] | None = None
    full: bool = False
