"""What a source is: the one seam between an API and the runner.

A source declares its tables (with their merge rules) and its streams, discovers
what exists right now (scopes to plan over, snapshot jobs to run), plans windowed
partitions (pure), and turns one partition into pages. The runner, the writer, the
state, the lake, `status` and `sql` know nothing else about it.

    discover(ctx) ──▶ Discovery(jobs, scopes, retire)
    plan(scopes, streams, request, covered) ──▶ [Partition]        pure
    pages(partition, checkpoint) ──▶ PageWrite, PageWrite, ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sinks.tables import Table
from sinks.writes import PageWrite, SnapshotWrite
from state.partitions import Checkpoint, Partition

__all__ = [
    "Discovery",
    "Job",
    "Notable",
    "PlanRequest",
    "ReadWhole",
    "RunContext",
    "Source",
    "Stream",
    "Write",
]

Write = PageWrite | SnapshotWrite


@dataclass(frozen=True)
class Stream:
    """A unit of harvesting a user can name in `--streams` (or by one of its tables).

    `windowed` streams are planned into partitions over time windows (backfill
    ranges and incremental marks apply); the others are read whole every run.
    """

    name: str
    tables: tuple[str, ...]
    windowed: bool


@dataclass(frozen=True)
class Notable:
    """What an after-run alert reports from one of the source's tables: rows matching
    `where` (SQL over the table's own columns, written by the source, never user text)
    stamped by `since_column` after the previous alert; `columns` for the examples."""

    name: str
    table: str
    where: str
    since_column: str = "harvested_at"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    """One unit a worker runs: a partition's chain or a snapshot read."""

    stream: str
    label: str
    writes: Callable[[], AsyncIterator[Write]]


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: a backfill range, or an incremental run ending at `now`.

    `start`/`end` are set for a backfill; an incremental run has `start=None` and
    restarts each scope at its mark minus `lookback` (or `default_start`).
    """

    now: datetime
    default_start: datetime
    lookback: timedelta
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_backfill(self) -> bool:
        return self.start is not None


@dataclass
class Discovery:
    """What a source found before planning.

    `scopes` is the source's own planning input (project ids, tenants, ...), handed
    back to `plan` untouched. `jobs` are snapshot reads to run this run. After the
    run, if none of this source's jobs failed, each `(table, live scope ids)` in
    `retire` marks removed the rows of scopes that are gone.
    """

    scopes: Any = None
    jobs: list[Job] = field(default_factory=list)
    retire: list[tuple[str, set[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class RunContext:
    """What a source may use while discovering: the run's instant and the stored state.

    `read(sql, params)` runs a read-only query on the warehouse (e.g. the update
    times stored by the last run), serialized with the writer.
    """

    now: datetime
    full: bool
    read: Callable[[str, Mapping[str, Any]], Awaitable[list[tuple[Any, ...]]]]


class Source(Protocol):
    name: str
    tables: Sequence[Table]
    streams: Sequence[Stream]
    notable: Sequence[Notable]  # what an after-run alert reports from this source's tables

    async def discover(self, ctx: RunContext, streams: Sequence[Stream]) -> Discovery: ...

    def plan(
        self,
        scopes: Any,
        streams: Sequence[Stream],
        request: PlanRequest,
        covered: Mapping[tuple[str, str], datetime],
    ) -> list[Partition]: ...

    def pages(self, partition: Partition, checkpoint: Checkpoint) -> AsyncIterator[PageWrite]: ...

    @property
    def requests(self) -> int: ...

    async def aclose(self) -> None: ...


class ReadWhole:
    """For a source whose streams are all read whole (no windows): nothing to plan,
    no partition to page."""

    def plan(
        self,
        scopes: Any,
        streams: Sequence[Stream],
        request: PlanRequest,
        covered: Mapping[tuple[str, str], datetime],
    ) -> list[Partition]:
        return []

    def pages(self, partition: Partition, checkpoint: Checkpoint) -> AsyncIterator[PageWrite]:
        raise ValueError(f"{partition.stream} is read whole: it has no windowed partitions")
