"""A run's progress: one set of counters, shown three ways.

The runner feeds one `RunProgress` (jobs planned and done, pages, rows, retries, per
stream). Everything that shows progress reads its `snapshot()`, so the three views
can never disagree:

- on a terminal, rich bars (`progress_view`);
- without one (cron), a `run.progress` JSON log line every `[harvest] progress_seconds`,
  so a slow run is told from a hung one;
- `harvester status` during a run, served over the run's socket (`harvester.live`).

A "partition" here is one job of the run: a windowed partition or one snapshot read.
Rates and the ETA count from the moment the plan is known (discovery excluded); the
ETA assumes the remaining partitions go as fast as the finished ones did.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog

from .background import background

__all__ = ["RunProgress", "describe", "progress_view"]

log = structlog.get_logger("harvester.run")

_BAR_REFRESH_SECONDS = 0.2


class RunProgress:
    """Counters of one run, fed by the runner from its event loop thread."""

    def __init__(self) -> None:
        self._began = time.monotonic()
        self._planned_at: float | None = None
        self._source_of: dict[str, str] = {}
        self.total: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.pages: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()

    # ---- fed by the runner ---------------------------------------------------

    def planned(self, jobs: Mapping[str, int], sources: Mapping[str, str]) -> None:
        """The plan is known: jobs per stream, and the source of each stream and table
        (pages are counted by the stream or table they fill)."""
        self.total.update(jobs)
        self._source_of.update(sources)
        self._planned_at = time.monotonic()

    def page(self, stream: str, rows: int) -> None:
        self.pages[stream] += 1
        self.rows[stream] += rows

    def job_done(self, stream: str) -> None:
        self.done[stream] += 1

    def retry(self, stream: str) -> None:
        self.retries[stream] += 1

    # ---- read by the views ---------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a view shows, JSON-ready: run totals, then the same per source."""
        now = time.monotonic()
        streams = set(self.total) | set(self.done) | set(self.rows) | set(self.retries)
        by_source: dict[str, set[str]] = {}
        for stream in streams:
            by_source.setdefault(self._source_of.get(stream, stream), set()).add(stream)
        return {
            "phase": "discovering" if self._planned_at is None else "harvesting",
            "elapsed_seconds": round(now - self._began, 1),
            **self._figures(streams, now),
            "sources": {name: self._figures(group, now) for name, group in sorted(by_source.items())},
        }

    def _figures(self, streams: set[str], now: float) -> dict[str, Any]:
        total = sum(self.total[s] for s in streams)
        done = sum(self.done[s] for s in streams)
        rows = sum(self.rows[s] for s in streams)
        seconds = now - self._planned_at if self._planned_at is not None else 0.0
        eta = (total - done) * seconds / done if done and total >= done else None
        return {
            "partitions_done": done,
            "partitions_total": total if self._planned_at is not None else None,
            "rows": rows,
            "pages": sum(self.pages[s] for s in streams),
            "retries": sum(self.retries[s] for s in streams),
            "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
            "eta_seconds": round(eta, 1) if eta is not None else None,
        }


def describe(snapshot: Mapping[str, Any]) -> list[str]:
    """A snapshot as lines for people (`harvester status` during a run)."""
    lines = [f"live run: {snapshot['phase']} for {_duration(snapshot['elapsed_seconds'])}, " + _line(snapshot)]
    lines += [f"  {name}: {_line(figures)}" for name, figures in snapshot.get("sources", {}).items()]
    return lines


def _line(f: Mapping[str, Any]) -> str:
    total = "?" if f["partitions_total"] is None else f"{f['partitions_total']:,}"
    rate = "" if f["rows_per_second"] is None else f" ({f['rows_per_second']:,.0f} rows/s)"
    eta = "" if f["eta_seconds"] is None else f", ETA {_duration(f['eta_seconds'])}"
    return (
        f"partitions {f['partitions_done']:,}/{total}, rows {f['rows']:,}{rate}, "
        f"pages {f['pages']:,}, retries {f['retries']:,}{eta}"
    )


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@asynccontextmanager
async def progress_view(
    progress: RunProgress, every_seconds: float, *, terminal: bool | None = None
) -> AsyncIterator[None]:
    """Show `progress` while the block runs: bars on a terminal (stderr), else a
    `run.progress` log line every `every_seconds`. `terminal=None` asks stderr."""
    on_terminal = sys.stderr.isatty() if terminal is None else terminal
    async with background() as tg:
        tg.start_soon(_bars if on_terminal else _log_lines, progress, every_seconds)
        yield


async def _log_lines(progress: RunProgress, every_seconds: float) -> None:
    while True:
        await anyio.sleep(every_seconds)
        log.info("run.progress", **progress.snapshot())


async def _bars(progress: RunProgress, _every_seconds: float) -> None:
    # rich's bars are imported on a terminal only: cron and `status` never pay for them
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions  {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bars:
        task = bars.add_task("planning", total=None, rows=0)
        while True:
            figures = progress.snapshot()
            bars.update(
                task, description=figures["phase"], total=figures["partitions_total"],
                completed=figures["partitions_done"], rows=figures["rows"],
            )
            await anyio.sleep(_BAR_REFRESH_SECONDS)
