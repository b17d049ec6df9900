"""A harvest run: plan, fetch concurrently, write through one writer, record the run.

    lock ─ open warehouse ─ get_organization ─ plan ─ feeder ─(jobs)─▶ N workers ─(pages)─▶ writer
                                                                                   └─ lake mirror

One task group owns every task. The feeder registers partitions a chunk at a time and
streams jobs (a partition chain or a snapshot call) to the workers over a bounded
stream, so at most `concurrency` chains are open at once and memory does not grow with
the size of the plan. The writer is the only code that writes DuckDB; it runs each
commit in a worker thread (serialized with the feeder's registrations by one limiter)
and coalesces queued pages into one transaction of up to `commit_rows` rows, each
page's checkpoint included.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from sinks import Warehouse
from state import RunLock

from .client import AbstraClient, ConnectionNotFoundError
from .config import Settings
from .errors import AuthError, FetchError, HarvestError, RedirectError, SinkError, first_harvest_error
from .fetch import Organization, fetch_organization, fetch_partition, fetch_snapshot
from .pages import Checkpoint, PageWrite, SnapshotWrite
from .planner import Partition, plan_backfill, plan_incremental
from .streams import Scope, Stream, parse_stream_names
from .timeutil import format_wire, utc_now

__all__ = ["Backfill", "Incremental", "NoProgress", "Progress", "RunReport", "harvest"]

log = structlog.get_logger("harvester.run")

_FATAL = (AuthError, ConnectionNotFoundError, RedirectError, SinkError)
_REGISTER_CHUNK = 2000


@dataclass(frozen=True)
class Backfill:
    """Harvest `[start, end)` for `streams` (None: the configured ones)."""

    start: datetime
    end: datetime
    streams: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Incremental:
    """From each stream's high-water mark minus lookback to the run's start."""


class Progress(Protocol):
    def planned(self, jobs: int) -> None: ...
    def page(self, stream: str, rows: int) -> None: ...
    def job_done(self) -> None: ...


class NoProgress:
    """Progress for nobody: the default, and what cron gets."""

    def planned(self, jobs: int) -> None: ...
    def page(self, stream: str, rows: int) -> None: ...
    def job_done(self) -> None: ...


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    status: str = "running"
    rows: Counter[str] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def stats(self) -> dict[str, Any]:
        streams = set(self.rows) | set(self.pages) | set(self.errors) | set(self.rejects)
        return {
            "requests": self.requests,
            "streams": {
                s: {"rows": self.rows[s], "pages": self.pages[s], "rejects": self.rejects[s], "errors": self.errors[s]}
                for s in sorted(streams)
            },
            "failures": self.failures[:50],
        }


Write = PageWrite | SnapshotWrite


@dataclass(frozen=True)
class Job:
    """One unit a worker runs: a partition's chain or one snapshot call."""

    stream: str
    label: str
    writes: Callable[[], AsyncIterator[Write]]


async def harvest(
    settings: Settings,
    mode: Backfill | Incremental,
    *,
    client: AbstraClient | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run one harvest to completion. Raises only for fatal errors (auth, config,
    warehouse); per-partition failures are reported in `RunReport.failures` and leave
    their checkpoints in place for the next run."""
    now = now or utc_now()
    report = RunReport(uuid.uuid4().hex[:12], now)
    with RunLock(settings.warehouse.duckdb):
        warehouse = Warehouse.open(settings.warehouse.duckdb, memory_limit=settings.warehouse.memory_limit)
        try:
            await anyio.to_thread.run_sync(warehouse.start_run, report.run_id, _command(mode), now)
            own_client = client is None
            client = client or AbstraClient.from_settings(settings)
            try:
                await _run(settings, mode, client, warehouse, report, now, progress or NoProgress())
            finally:
                report.requests = client.requests
                if own_client:
                    await client.aclose()
        except BaseException as exc:
            error = first_harvest_error(exc)
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class() | KeyboardInterrupt)
            report.status = "interrupted" if cancelled and error is None else "failed"
            report.failures.append(_reason(error or exc))
            with anyio.CancelScope(shield=True):
                await _finish(warehouse, report)
            if error is not None and error is not exc:
                raise error from None
            raise
        else:
            report.status = "partial" if report.failures else "ok"
            await _finish(warehouse, report)
        finally:
            warehouse.close()
        if settings.warehouse.parquet:
            await _mirror_lake(settings, report)
    return report


async def _mirror_lake(settings: Settings, report: RunReport) -> None:
    """Mirror the finished warehouse into the Parquet lake, still under the run lock.

    Runs after the warehouse is closed (DuckDB refuses a read-only connection beside
    the writer's). The run's rows are already committed, so a lake failure only makes
    the run partial (exit 1); the next run or `harvester export` repairs the lake.
    """
    from sinks.lake import mirror

    root = str(settings.warehouse.parquet)
    try:  # mirror() logs `lake.mirror` with the partitions it rewrote
        await anyio.to_thread.run_sync(
            functools.partial(mirror, settings.warehouse.duckdb, root, memory_limit=settings.warehouse.memory_limit)
        )
    except HarvestError as exc:
        report.status = "partial"
        report.failures.append(f"lake {root}: {exc}")
        log.error("lake.failed", root=root, error=str(exc))


def _reason(exc: BaseException) -> str:
    """One line for `_runs.stats.failures`: a deliberate error's message, or the type
    and first line of anything else (never a traceback)."""
    if isinstance(exc, HarvestError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def _finish(warehouse: Warehouse, report: RunReport) -> None:
    """Record the run's end. Never leaves `_runs` at "running": if the full stats
    cannot be stored, the status and the first failure are stored alone."""
    ended = utc_now()
    for stats in (report.stats, lambda: {"failures": report.failures[:1]}):
        try:
            await anyio.to_thread.run_sync(warehouse.finish_run, report.run_id, report.status, ended, stats())
            return
        except Exception as exc:  # the run's outcome matters more than its record
            log.error("run.record_failed", error=_reason(exc))


def _command(mode: Backfill | Incremental) -> str:
    if isinstance(mode, Backfill):
        return f"backfill {format_wire(mode.start)} {format_wire(mode.end)}"
    return "run"


async def _run(
    settings: Settings,
    mode: Backfill | Incremental,
    client: AbstraClient,
    warehouse: Warehouse,
    report: RunReport,
    now: datetime,
    progress: Progress,
) -> None:
    names = mode.streams if isinstance(mode, Backfill) and mode.streams else settings.harvest.streams
    streams = parse_stream_names(list(names))
    org = await fetch_organization(client, now)
    log.info("run.organization", projects=len(org.project_ids))
    db = anyio.CapacityLimiter(1)  # the writer and the planner share one DuckDB connection
    partitions = await anyio.to_thread.run_sync(
        _plan, settings, mode, streams, org.project_ids, warehouse, now, limiter=db
    )
    snapshots = list(_snapshot_jobs(client, streams, org, now))
    log.info("run.plan", partitions=len(partitions), snapshots=len(snapshots), start=format_wire(now))
    progress.planned(len(partitions) + len(snapshots))
    c = settings.harvest.concurrency
    writes_in, writes_out = anyio.create_memory_object_stream[Write](max_buffer_size=c)
    jobs_in, jobs_out = anyio.create_memory_object_stream[Job](max_buffer_size=c)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_writer, writes_out, warehouse, report, progress, settings.harvest.commit_rows, db)
        tg.start_soon(
            _feed, jobs_in, snapshots, partitions, client, warehouse, report, progress, settings.harvest.page_size, db
        )
        async with writes_in, jobs_out:
            async with anyio.create_task_group() as workers:
                for _ in range(c):
                    workers.start_soon(_worker, jobs_out.clone(), writes_in.clone(), report, progress)
    if any(s.scope is Scope.SNAPSHOT_PROJECT for s in streams) and not _failed_snapshots(report, streams):
        for stream in streams:
            if stream.scope is Scope.SNAPSHOT_PROJECT:
                await anyio.to_thread.run_sync(
                    warehouse.retire_snapshot_scopes, stream.tables[0], set(org.project_ids), now
                )


def _failed_snapshots(report: RunReport, streams: Sequence[Stream]) -> bool:
    return any(report.errors[s.name] for s in streams if s.scope is Scope.SNAPSHOT_PROJECT)


def _plan(
    settings: Settings,
    mode: Backfill | Incremental,
    streams: Sequence[Stream],
    project_ids: Sequence[str],
    warehouse: Warehouse,
    now: datetime,
) -> list[Partition]:
    """Backfill: the requested range, re-planned identically so a killed backfill
    resumes. Incremental: unfinished partitions of earlier runs first, then each scope
    from its high-water mark minus lookback up to `now`."""
    h = settings.harvest
    windowed = [s for s in streams if s.scope in (Scope.ORG, Scope.PROJECT, Scope.PROJECT_BATCH)]
    if isinstance(mode, Backfill):
        return plan_backfill(
            windowed, mode.start, mode.end, project_ids,
            slice_days=h.slice_days, consumption_days=h.consumption_period_days,
        )
    names = {s.name for s in windowed}
    pending = [p for p, _ in warehouse.pending_partitions() if p.stream in names]
    fresh = plan_incremental(
        windowed,
        project_ids,
        warehouse.covered_until(),
        default_start=h.start,
        now=now,
        lookback=h.lookback,
        slice_days=h.slice_days,
        consumption_days=h.consumption_period_days,
    )
    return list({p.key: p for p in (*pending, *fresh)}.values())


async def _feed(
    jobs: ObjectSendStream[Job],
    snapshots: Sequence[Job],
    partitions: Sequence[Partition],
    client: AbstraClient,
    warehouse: Warehouse,
    report: RunReport,
    progress: Progress,
    page_size: int,
    db: anyio.CapacityLimiter,
) -> None:
    """Hand jobs to the workers: snapshots, then partitions registered a chunk at a
    time, so a year of daily partitions never sits in memory as jobs and checkpoints."""
    async with jobs:
        for job in snapshots:
            await jobs.send(job)
        for start in range(0, len(partitions), _REGISTER_CHUNK):
            chunk = partitions[start : start + _REGISTER_CHUNK]
            checkpoints = await anyio.to_thread.run_sync(
                warehouse.register_partitions, report.run_id, chunk, limiter=db
            )
            for partition in chunk:
                checkpoint = checkpoints[partition.key]
                if checkpoint.done:
                    progress.job_done()
                else:
                    await jobs.send(_partition_job(client, partition, checkpoint, page_size))


def _partition_job(client: AbstraClient, partition: Partition, checkpoint: Checkpoint, page_size: int) -> Job:
    return Job(
        partition.stream,
        partition.label(),
        lambda: fetch_partition(client, partition, checkpoint, page_size=page_size),
    )


def _snapshot_jobs(
    client: AbstraClient, streams: Sequence[Stream], org: Organization, now: datetime
) -> Iterator[Job]:
    for stream in streams:
        if stream.name == "organization":
            yield Job(stream.name, "organization", lambda: _each(org.writes))
        elif stream.scope is Scope.SNAPSHOT_ORG:
            yield _snapshot_job(client, stream.name, None, now)
        elif stream.scope is Scope.SNAPSHOT_PROJECT:
            for pid in org.project_ids:
                yield _snapshot_job(client, stream.name, pid, now)


def _snapshot_job(client: AbstraClient, stream: str, project_id: str | None, now: datetime) -> Job:
    async def writes() -> AsyncIterator[Write]:
        yield await fetch_snapshot(client, stream, project_id, now)

    return Job(stream, stream if project_id is None else f"{stream} project={project_id}", writes)


async def _each(writes: Sequence[SnapshotWrite]) -> AsyncIterator[Write]:
    for write in writes:
        yield write


async def _worker(
    queue: ObjectReceiveStream[Job], send: ObjectSendStream[Write], report: RunReport, progress: Progress
) -> None:
    """Take jobs until none are left. A failed job is logged and counted; the next job
    goes on. Fatal errors (auth, unknown connection, warehouse) end the whole run."""
    async with queue, send:
        async for job in queue:
            stream, label = job.stream, job.label
            with structlog.contextvars.bound_contextvars(stream=stream, partition=label):
                try:
                    async for write in job.writes():
                        await send.send(write)
                except _FATAL:
                    raise
                except FetchError as exc:
                    report.errors[stream] += 1
                    report.failures.append(f"{label}: {exc}")
                    log.error("fetch.failed", error=str(exc))
            progress.job_done()


async def _writer(
    receive: ObjectReceiveStream[Write],
    warehouse: Warehouse,
    report: RunReport,
    progress: Progress,
    commit_rows: int,
    db: anyio.CapacityLimiter,
) -> None:
    """The one writer. Coalesces whatever pages are already queued into one
    transaction, so a fast producer costs fewer commits, never more memory."""
    async with receive:
        async for first in receive:
            batch = [first]
            rows = len(first.rows)
            while rows < commit_rows:
                try:
                    nxt = receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                batch.append(nxt)
                rows += len(nxt.rows)
            await _commit(batch, warehouse, db)
            for write in batch:
                _count(write, report, progress)


async def _commit(batch: list[Write], warehouse: Warehouse, db: anyio.CapacityLimiter) -> None:
    pages = [w for w in batch if isinstance(w, PageWrite)]
    if pages:
        await anyio.to_thread.run_sync(warehouse.commit_pages, pages, limiter=db)
    for snapshot in (w for w in batch if isinstance(w, SnapshotWrite)):
        await anyio.to_thread.run_sync(warehouse.commit_snapshot, snapshot, limiter=db)


def _count(write: Write, report: RunReport, progress: Progress) -> None:
    stream = write.partition.stream if isinstance(write, PageWrite) else write.table
    report.rows[stream] += len(write.rows)
    report.pages[stream] += 1
    report.rejects[stream] += len(write.rejects)
    progress.page(stream, len(write.rows))
    log.debug("sink.commit", stream=stream, rows=len(write.rows))
