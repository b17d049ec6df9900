"""A harvest run: discover, plan, fetch concurrently, write through one writer, record the run.

    lock ─ open warehouse ─ discover (each source) ─ plan ─ feeder ─(jobs)─▶ N workers ─(pages)─▶ writer
                                                                                        └─ lake mirror

The runner knows no source by name: each enabled source (see `sources.registry`)
discovers its scopes and snapshot jobs, plans its windowed partitions, and turns a
partition into pages; the runner only schedules them and hands pages to the writer.

One task group owns every task. The feeder registers partitions a chunk at a time and
streams jobs (a partition chain or a snapshot call) to the workers over a bounded
stream, so at most `concurrency` chains are open at once and memory does not grow with
the size of the plan. The writer is the only code that writes DuckDB; it runs each
commit in a worker thread (serialized with the feeder's registrations by one limiter)
and coalesces queued pages into one transaction of up to `commit_rows` rows, each
page's checkpoint included.

While the warehouse is open the run also answers `status` and `sql` from it over a
socket (`harvester.live`), its progress counters (`harvester.progress`) included.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from sinks import Warehouse
from state.lock import RunLock

from .config import Settings
from .errors import FetchError, HarvestError, first_harvest_error, is_fatal
from .live import serve_live
from .modes import Backfill, Incremental
from .pages import Checkpoint, Landed, PageWrite, SnapshotWrite
from .planner import Partition
from .progress import RunProgress
from .retry import counting_retries
from .sources.base import Discovery, Job, PlanRequest, RunContext, Source, Stream, Write
from .sources.registry import build_sources, resolve_streams, tables_of
from .timeutil import format_wire, utc_now

__all__ = ["Backfill", "Incremental", "RunReport", "harvest"]

log = structlog.get_logger("harvester.run")

_REGISTER_CHUNK = 2000




@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    status: str = "running"
    rows: Counter[str] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    typed: Counter[str] = field(default_factory=Counter)  # pages whose entries SQL typed
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    writer_seconds: float = 0.0  # time the writer spent committing (see `_writer`)

    def stats(self) -> dict[str, Any]:
        streams = set(self.rows) | set(self.pages) | set(self.errors) | set(self.rejects)
        return {
            "requests": self.requests,
            "writer_seconds": round(self.writer_seconds, 3),
            "streams": {
                s: {
                    "rows": self.rows[s],
                    "pages": self.pages[s],
                    "typed_pages": self.typed[s],
                    "rejects": self.rejects[s],
                    "errors": self.errors[s],
                }
                for s in sorted(streams)
            },
            "failures": self.failures[:50],
        }


async def harvest(
    settings: Settings,
    mode: Backfill | Incremental,
    *,
    sources: Sequence[Source] | None = None,
    now: datetime | None = None,
    progress: RunProgress | None = None,
) -> RunReport:
    """Run one harvest to completion. Raises only for fatal errors (auth, config,
    warehouse); per-partition failures are reported in `RunReport.failures` and leave
    their checkpoints in place for the next run. `sources` defaults to the ones the
    config enables; the runner closes only the sources it built. While the warehouse
    is open, `status` and `sql` are answered from it (`harvester.live`), `progress`
    included."""
    now = now or utc_now()
    report = RunReport(uuid.uuid4().hex[:12], now)
    own = sources is None
    sources = list(build_sources(settings) if sources is None else sources)
    progress = progress if progress is not None else RunProgress()
    with RunLock(settings.warehouse.duckdb):
        warehouse = Warehouse.open(
            settings.warehouse.duckdb, tables_of(sources), memory_limit=settings.warehouse.memory_limit
        )
        try:
            async with serve_live(warehouse, progress, report.run_id):
                await _recorded(settings, mode, sources, own, warehouse, report, now, progress)
        finally:
            warehouse.close()
        if settings.warehouse.parquet:
            await _mirror_lake(settings, report)
    return report


async def _recorded(
    settings: Settings,
    mode: Backfill | Incremental,
    sources: list[Source],
    own: bool,
    warehouse: Warehouse,
    report: RunReport,
    now: datetime,
    progress: RunProgress,
) -> None:
    """The run between opening and closing the warehouse, recorded in `_runs` however
    it ends (ok, partial, failed, interrupted)."""
    try:
        await anyio.to_thread.run_sync(warehouse.start_run, report.run_id, _command(mode), now)
        try:
            await _run(settings, mode, sources, warehouse, report, now, progress)
        finally:
            report.requests = sum(s.requests for s in sources)
            if own:
                with anyio.CancelScope(shield=True):
                    for source in sources:
                        await source.aclose()
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
        if settings.alerts is not None:
            await _alert(settings, sources, warehouse, report, _command(mode))
        await _finish(warehouse, report)


async def _alert(
    settings: Settings, sources: Sequence[Source], warehouse: Warehouse, report: RunReport, command: str
) -> None:
    """Commit this run's alert to the outbox, then deliver every pending one. A failed
    delivery makes the run partial; the alert stays pending for the next run."""
    from .alerts import build_alert, deliver_alerts
    from .http import Gate
    from .transport import AiohttpTransport

    assert settings.alerts is not None
    notables = [n for s in sources for n in s.notable]
    alert_id, document = await anyio.to_thread.run_sync(
        functools.partial(
            build_alert, warehouse, notables, run_id=report.run_id, status=report.status, command=command,
            rows=dict(report.rows), failures=report.failures, cutoff=utc_now(),
        )
    )
    cutoff = datetime.fromisoformat(document["window"]["until"].replace("Z", "+00:00"))
    text = orjson.dumps(document).decode()
    await anyio.to_thread.run_sync(warehouse.record_alert, alert_id, report.run_id, cutoff, text)
    # The receiver's reply is never read, so it gets a small cap and no setting to raise it.
    transport = AiohttpTransport(timeout_seconds=60.0, pool_size=1, max_reply_bytes=1 << 20, settings=None)
    try:
        failures = await deliver_alerts(
            warehouse, transport, Gate(concurrency=1), settings.alerts.webhook,
            read=anyio.to_thread.run_sync, write=anyio.to_thread.run_sync,
        )
    finally:
        await transport.aclose()
    if failures:
        report.status = "partial"
        report.failures.extend(failures)


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
    return "run --full" if mode.full else "run"


async def _run(
    settings: Settings,
    mode: Backfill | Incremental,
    sources: Sequence[Source],
    warehouse: Warehouse,
    report: RunReport,
    now: datetime,
    progress: RunProgress,
) -> None:
    names = mode.streams or settings.harvest.streams
    chosen = resolve_streams(sources, names)
    db = anyio.CapacityLimiter(1)  # the writer and the planner share one DuckDB connection
    ctx = RunContext(now, mode.full, _reader(warehouse, db))
    found = await _discover_all(sources, chosen, ctx, report)
    covered = await anyio.to_thread.run_sync(warehouse.covered_until, limiter=db)
    pending = await anyio.to_thread.run_sync(warehouse.pending_partitions, limiter=db)
    request = _request(settings, mode, now)
    plans = {
        s.name: _plan(s, found[s.name], chosen[s.name], request, covered, pending)
        for s in sources
        if s.name in found
    }
    snapshots = [job for d in found.values() for job in d.jobs]
    log.info(
        "run.plan",
        partitions=sum(len(p) for p in plans.values()),
        snapshots=len(snapshots),
        sources=sorted(found),
        start=format_wire(now),
    )
    by_stream = {st.name: s for s in sources for st in s.streams}
    partitions = [p for plan in plans.values() for p in plan]
    progress.planned(
        Counter(j.stream for j in (*partitions, *snapshots)),
        {name: s.name for s in sources for st in s.streams for name in (st.name, *st.tables)},
    )
    c = settings.harvest.concurrency
    writes_in, writes_out = anyio.create_memory_object_stream[Write](max_buffer_size=c)
    jobs_in, jobs_out = anyio.create_memory_object_stream[Job](max_buffer_size=c)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_writer, writes_out, warehouse, report, progress, settings.harvest.commit_rows, db)
        tg.start_soon(_feed, jobs_in, snapshots, partitions, by_stream, warehouse, report, progress, db)
        async with writes_in, jobs_out:
            async with anyio.create_task_group() as workers:
                for _ in range(c):
                    workers.start_soon(_worker, jobs_out.clone(), writes_in.clone(), report, progress)
    await _retire(sources, found, report, warehouse, now, db)


async def _discover_all(
    sources: Sequence[Source], chosen: dict[str, list[Stream]], ctx: RunContext, report: RunReport
) -> dict[str, Discovery]:
    """Each source with chosen streams discovers, concurrently. A source that cannot
    (its API is down) is reported and skipped; the others go on. Fatal errors (auth,
    config, warehouse) end the run."""
    found: dict[str, Discovery] = {}

    async def one(source: Source) -> None:
        with structlog.contextvars.bound_contextvars(source=source.name):
            try:
                found[source.name] = await source.discover(ctx, chosen[source.name])
            except FetchError as exc:
                if is_fatal(exc):
                    raise
                report.errors[source.name] += 1
                report.failures.append(f"{source.name}: {exc}")
                log.error("source.discover_failed", error=str(exc))

    async with anyio.create_task_group() as tg:
        for source in sources:
            if chosen.get(source.name):
                tg.start_soon(one, source)
    return found


def _reader(warehouse: Warehouse, db: anyio.CapacityLimiter) -> Any:
    async def read(sql: str, params: Any) -> list[tuple[Any, ...]]:
        return await anyio.to_thread.run_sync(functools.partial(warehouse.read, sql, params), limiter=db)

    return read


def _request(settings: Settings, mode: Backfill | Incremental, now: datetime) -> PlanRequest:
    h = settings.harvest
    if isinstance(mode, Backfill):
        return PlanRequest(now, h.start, h.lookback, mode.start, mode.end)
    return PlanRequest(now, h.start, h.lookback)


def _plan(
    source: Source,
    discovery: Discovery,
    streams: Sequence[Stream],
    request: PlanRequest,
    covered: dict[tuple[str, str], datetime],
    pending: Sequence[tuple[Partition, Checkpoint]],
) -> list[Partition]:
    """Backfill: the requested range, re-planned identically so a killed backfill
    resumes. Incremental: unfinished partitions of earlier runs first, then each scope
    from its high-water mark minus lookback up to `now`."""
    fresh = source.plan(discovery.scopes, streams, request, covered)
    if request.is_backfill:
        return fresh
    names = {s.name for s in streams if s.windowed}
    resumed = [p for p, _ in pending if p.stream in names]
    return list({p.key: p for p in (*resumed, *fresh)}.values())


async def _retire(
    sources: Sequence[Source],
    found: dict[str, Discovery],
    report: RunReport,
    warehouse: Warehouse,
    now: datetime,
    db: anyio.CapacityLimiter,
) -> None:
    """Mark removed the rows of scopes that are gone, for each source whose snapshot
    reads all succeeded (a failed read must not make live rows look removed)."""
    for source in sources:
        discovery = found.get(source.name)
        if discovery is None or any(report.errors[job.stream] for job in discovery.jobs):
            continue
        for table, live in discovery.retire:
            await anyio.to_thread.run_sync(warehouse.retire_snapshot_scopes, table, live, now, limiter=db)


async def _feed(
    jobs: ObjectSendStream[Job],
    snapshots: Sequence[Job],
    partitions: Sequence[Partition],
    by_stream: dict[str, Source],
    warehouse: Warehouse,
    report: RunReport,
    progress: RunProgress,
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
                    progress.job_done(partition.stream)
                else:
                    await jobs.send(_partition_job(by_stream[partition.stream], partition, checkpoint))


def _partition_job(source: Source, partition: Partition, checkpoint: Checkpoint) -> Job:
    return Job(partition.stream, partition.label(), lambda: source.pages(partition, checkpoint))


async def _worker(
    queue: ObjectReceiveStream[Job], send: ObjectSendStream[Write], report: RunReport, progress: RunProgress
) -> None:
    """Take jobs until none are left. A failed job is logged and counted; the next job
    goes on. Fatal errors (auth, unknown connection, warehouse) end the whole run."""
    async with queue, send:
        async for job in queue:
            stream, label = job.stream, job.label
            counted = counting_retries(functools.partial(progress.retry, stream))
            with structlog.contextvars.bound_contextvars(stream=stream, partition=label), counted:
                try:
                    async for write in job.writes():
                        await send.send(write)
                except FetchError as exc:
                    if is_fatal(exc):
                        raise
                    report.errors[stream] += 1
                    report.failures.append(f"{label}: {exc}")
                    log.error("fetch.failed", error=str(exc))
            progress.job_done(stream)


_LINGER_SECONDS = 0.25


async def _writer(
    receive: ObjectReceiveStream[Write],
    warehouse: Warehouse,
    report: RunReport,
    progress: RunProgress,
    commit_rows: int,
    db: anyio.CapacityLimiter,
) -> None:
    """The one writer: commits pages in arrival order, many per transaction.

    While one batch commits (in a worker thread), the pages that keep arriving
    gather into the next batch, up to `commit_rows` rows (plus the page that
    crosses it). So a fast producer gets fewer, larger transactions, each paying
    its fixed costs once (the probe of the stored keys of each table, COMMIT,
    the checkpoint update), and memory stays bounded: one batch committing, one
    gathering, the queue. Each page travels whole with its checkpoint, so the
    page-atomic rule holds for any batch size.

    A batch also waits up to `_LINGER_SECONDS` to fill: every transaction costs a
    few milliseconds whatever its size (reading the stage, probing the stored
    keys, COMMIT), so committing each page as it comes spends a core on overhead
    that one 10,000-row batch pays once.

    The time spent committing (with any wait for the connection the planner also
    uses, which is brief) adds up in `RunReport.writer_seconds`: close to the run's
    duration, the warehouse side (CPU, disk) is what bounds the run; far below it,
    the API is.
    """
    gathered: list[Write] = []
    ended = False
    ready = anyio.Condition()

    def room() -> bool:
        return sum(w.size if isinstance(w, PageWrite) else len(w.rows) for w in gathered) < commit_rows

    async def gather() -> None:
        nonlocal ended
        async with receive:
            async for write in receive:
                async with ready:
                    while not room():
                        await ready.wait()
                    gathered.append(write)
                    ready.notify_all()
        async with ready:
            ended = True
            ready.notify_all()

    async with anyio.create_task_group() as tg:
        tg.start_soon(gather)
        while True:
            async with ready:
                while not gathered and not ended:
                    await ready.wait()
            with anyio.move_on_after(_LINGER_SECONDS):
                async with ready:
                    while room() and not ended:
                        await ready.wait()
            async with ready:
                if not gathered:
                    break
                batch = gathered[:]
                gathered.clear()
                ready.notify_all()
            started = time.perf_counter()
            committed = await _commit(batch, warehouse, db)
            report.writer_seconds += time.perf_counter() - started
            for write, landed in committed:
                _count(write, landed, report, progress)


async def _commit(
    batch: list[Write], warehouse: Warehouse, db: anyio.CapacityLimiter
) -> list[tuple[Write, Landed]]:
    """Commit the batch; each write with what it brought."""
    pages = [w for w in batch if isinstance(w, PageWrite)]
    landed: list[tuple[Write, Landed]] = []
    if pages:
        counts = await anyio.to_thread.run_sync(warehouse.commit_pages, pages, limiter=db)
        landed.extend(zip(pages, counts, strict=True))
    for snapshot in (w for w in batch if isinstance(w, SnapshotWrite)):
        await anyio.to_thread.run_sync(warehouse.commit_snapshot, snapshot, limiter=db)
        landed.append((snapshot, Landed(len(snapshot.rows), len(snapshot.rejects))))
    return landed


def _count(write: Write, landed: Landed, report: RunReport, progress: RunProgress) -> None:
    stream = write.stream
    report.rows[stream] += landed.rows
    report.pages[stream] += 1
    report.typed[stream] += landed.typed
    report.rejects[stream] += landed.rejects
    progress.page(stream, landed.rows)
    log.debug("sink.commit", stream=stream, rows=landed.rows)
