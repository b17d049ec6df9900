"""The warehouse: one DuckDB file holding the harvested tables and the harvest state.

One writer owns the read-write connection (it is not thread-safe: call it from
one thread at a time). Every write is one transaction: a batch of pages commits
its rows, its rejects and its checkpoints together or not at all, so a killed run
resumes exactly after the last page it stored. Readers (`status`, `sql`) open the
file read-only, which DuckDB refuses while a writer has it open; during a run the
writer's process answers them on read-only cursors instead (`live_reader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import duckdb
import orjson
import structlog

from state import alerts, checkpoints, marks, runs
from state.errors import CheckpointError, SinkError
from state.partitions import Checkpoint, Partition

from . import merge
from .batch import dedupe_rows, reject_rows
from .catalog import load_catalog
from .connection import (
    DEFAULT_SPILL_LIMIT,
    confine,
    connect,
    parse_size,
    seal,
    sealed_settings,
    sink_error,
    size_setting,
)
from .entries import (
    ENTRY_TABLE,
    Shape,
    Verdict,
    page_counts_sql,
    rows_sql,
    shape_of,
    stage_entries,
    write_stage,
)
from .live_reads import LiveReader
from .schema import REJECTS_COLUMNS, ensure_schema, input_columns
from .staging import Stager, choose_stage_root, object_size_for
from .status import run_read_only, table_status
from .tables import Table
from .writes import EntryPage, Landed, PageWrite, SnapshotWrite

__all__ = [
    "DEFAULT_CHECKPOINT_THRESHOLD",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_WRITER_THREADS",
    "Warehouse",
    "parse_size",  # re-exported: sinks.lake imports it from here
]

DEFAULT_MEMORY_LIMIT = "128MB"
DEFAULT_WRITER_THREADS = 1
DEFAULT_CHECKPOINT_THRESHOLD = "256MB"
_STAGE = "_stage"
_OOM_RETRY_FACTORS = (1, 4, 16)
_JSON_READ_BUFFER = 32 << 20  # the smallest buffer DuckDB reserves per thread for read_json
_ENTRY_EXPANSION = 7  # working memory to type entry pages, per byte of their stage file
_STAGE_SLACK = 12 << 20
_T = TypeVar("_T")
log = structlog.get_logger("harvester.sink")
_REJECT_INPUT = tuple(c for c in REJECTS_COLUMNS if c[0] != "rejected_at")


@dataclass(frozen=True)
class _Typed:
    """A table whose entry pages of a batch SQL typed: they wait in `stage` as table
    number `tab`; `writes` maps a staged page's index to its index in the batch."""

    table: Table
    shape: Shape
    stage: str
    tab: int
    select: str  # its rows to merge
    writes: list[int]
    days: tuple[int | None, ...] | None  # `merge.day_numbers` of its entries, when known


class Warehouse:
    """Open with `Warehouse.open` (read-write) or `Warehouse.open_read_only`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        *,
        read_only: bool,
        memory_limit: int,
        stager: Stager | None,
        threads: int = DEFAULT_WRITER_THREADS,
    ) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only
        self._memory_limit = memory_limit
        self._stager = stager
        self._run_id: str | None = None
        self._threads = threads
        self._limit_now = memory_limit  # the configured limit, or a raised one during a retry
        self._limit_set = memory_limit  # what DuckDB has now
        self.tables: dict[str, Table] = {}  # the specs recorded in the file (`_tables`)

    # ---- opening and closing -------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        tables: Iterable[Table] = (),
        *,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int = DEFAULT_WRITER_THREADS,
        checkpoint_threshold: str = DEFAULT_CHECKPOINT_THRESHOLD,
    ) -> Warehouse:
        """Open (creating if needed) the file, `tables` and the state tables, for writing.

        `tables` are created or migrated and recorded in the file's catalog; tables
        recorded by earlier runs stay writable and readable.

        Why these defaults: one DuckDB thread, because the writer's batches are small
        and each extra thread reserves a 32 MB JSON read buffer (two threads measured
        slower); a 256 MB checkpoint threshold, because every checkpoint rewrites each
        table's open row group: at 1M log rows, checkpointing every 64 MB cost 13 µs a
        row of commit time, every 256 MB 8 µs (`bench/compare.py`).

        The database is confined to its own files and the stage directory, with no
        extensions (`sinks.connection.confine`), so the cursors `live_reader` hands
        out can reach nothing else either.
        """
        path = Path(path)
        limit = parse_size(memory_limit)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the warehouse directory {path.parent}: {exc}") from exc
        con = connect(
            path,
            read_only=False,
            memory_limit=memory_limit,
            threads=threads,
            extra={
                "checkpoint_threshold": size_setting(checkpoint_threshold),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        warehouse = cls(con, path, read_only=False, memory_limit=limit, stager=None, threads=threads)
        try:
            specs = list(tables)
            warehouse._atomically(f"creating the schema of {path}", lambda con: ensure_schema(con, specs))
            warehouse.tables = warehouse._read("reading the table catalog", load_catalog)
            stager = warehouse._stager = Stager(choose_stage_root(path))
            warehouse._read("confining the warehouse", lambda con: confine(con, stager.directory))
        except BaseException:
            warehouse.close()
            raise
        return warehouse

    @classmethod
    def open_read_only(
        cls, path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_limit: str = DEFAULT_SPILL_LIMIT
    ) -> Warehouse:
        """Open an existing file for `status` and `sql`; never creates anything.

        The connection is sealed (see `sinks.connection`): whatever SQL it is given, it
        can read this file and nothing else, and write nothing but bounded spill.
        """
        path = Path(path)
        if not path.is_file():
            raise SinkError(f"no warehouse at {path}: run `harvester run` or `harvester backfill` first")
        con = connect(path, read_only=True, memory_limit=memory_limit, threads=None, extra=sealed_settings(spill_limit))
        try:
            seal(con)
        except duckdb.Error as exc:
            con.close()
            raise sink_error(f"sealing {path}", exc, path) from exc
        warehouse = cls(con, path, read_only=True, memory_limit=parse_size(memory_limit), stager=None)
        try:
            warehouse.tables = warehouse._read("reading the table catalog", load_catalog)
        except BaseException:
            warehouse.close()
            raise
        return warehouse

    def close(self) -> None:
        """Close the connection and remove the stage directory; safe to call twice."""
        con, self._con = self._con, None
        stager, self._stager = self._stager, None
        try:
            if con is not None:
                con.close()
        finally:
            if stager is not None:
                stager.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- windowed pages ------------------------------------------------------

    def commit_pages(self, writes: Sequence[PageWrite]) -> list[Landed]:
        """Commit a coalesced batch of pages (rows, rejects, checkpoints) in ONE transaction;
        return what each page brought, in order.

        Each table's merge rule decides which copy of a key stays (see `sinks.tables`).
        Pages that carry their reply's bytes (`EntryPage`) are typed in SQL when
        SQL vouches for all of a table's entries in the batch (`sinks.entries`);
        otherwise they are read by their source's own builder. On any failure
        nothing of the batch stays and SinkError is raised.
        """
        if not writes:
            return []
        self._writable()
        for write in writes:
            self._check_page(write)
        typed, writes = self._type_entries(writes)
        by_table: dict[str, list[PageWrite]] = {}
        for write in writes:
            if write.entries is None:
                by_table.setdefault(write.table, []).append(write)
        batches = {
            name: dedupe_rows(self.tables[name], [w.rows for w in group]) for name, group in by_table.items()
        }
        rejects = [r for w in writes for r in reject_rows(w.rejects, w.partition.key if w.partition else "")]
        advances = [(w.partition, w.checkpoint) for w in writes if w.partition and w.checkpoint]
        landed = [Landed(len(w.rows), len(w.rejects), w.entries is not None) for w in writes]

        def body(con: duckdb.DuckDBPyConnection) -> None:
            for name, rows in batches.items():
                if rows:
                    table = self.tables[name]
                    with self._staged(rows, input_columns(table)):
                        merge.merge_windowed(con, table, _STAGE)
            for t in typed:
                merge.merge_windowed(con, t.table, f"({t.select})", t.days)
                for page, rows in con.execute(page_counts_sql(t.shape, t.stage, t.tab)).fetchall():
                    landed[t.writes[page]] = Landed(int(rows), 0, typed=True)
            self._merge_rejects(rejects)
            if advances:
                checkpoints.upsert_checkpoints(con, self._run_id, advances)

        try:
            names = ", ".join(sorted({w.table for w in writes}))
            self._atomically(f"committing {len(writes)} page(s) to {names}", body)
        finally:
            for stage in sorted({t.stage for t in typed}):
                with suppress(duckdb.Error):
                    self._connection().execute(f"DROP TABLE IF EXISTS {stage}")
        return landed

    def _type_entries(self, writes: Sequence[PageWrite]) -> tuple[list[_Typed], list[PageWrite]]:
        """Stage the entry pages, typed in SQL, before the transaction (a failed read
        must not abort it): one statement per shape of table, not per table. Pages of
        a table SQL does not vouch for are read by their source's builder. Returns the
        typed tables, and the writes with entries kept only on their pages."""
        groups: dict[Shape, list[int]] = {}
        out = list(writes)
        for index, write in enumerate(writes):
            if write.entries is None:
                continue
            shape = shape_of(self.tables[write.table], write.entries)
            if shape is None or write.rows:
                out[index] = write.built()
            else:
                groups.setdefault(shape, []).append(index)
        typed: list[_Typed] = []
        for number, (shape, indexes) in enumerate(groups.items()):
            stage = f"{ENTRY_TABLE}_{number}"
            group = [writes[i] for i in indexes]
            names = sorted({w.table for w in group})
            pages = [(names.index(w.table), w.entries) for w in group if w.entries is not None]
            verdict = self._stage_entry_pages(shape, stage, pages, len(names))
            for tab, name in enumerate(names):
                if tab in verdict.vouched:
                    select = rows_sql(shape, stage, tab, repeated=tab in verdict.repeated)
                    days = verdict.days.get(tab)
                    typed.append(_Typed(self.tables[name], shape, stage, tab, select, indexes, days))
                else:
                    for i in (i for i in indexes if writes[i].table == name):
                        out[i] = writes[i].built()
        return typed, out

    def _stage_entry_pages(
        self, shape: Shape, stage: str, pages: Sequence[tuple[int, EntryPage]], tables: int
    ) -> Verdict:
        """Load (table number, page) pairs into the temp table `stage`; what SQL vouched
        for (nothing when it cannot read them at all: the source's builder then reads
        them, and says what is wrong)."""
        assert self._stager is not None, "stager exists on every writable warehouse"
        con = self._connection()
        try:
            with self._stager.file("entries") as path:
                longest = write_stage(path, pages)
                with self._room_to_read(path.stat().st_size, expansion=_ENTRY_EXPANSION):
                    return stage_entries(con, shape, stage, path, longest, tables)
        except (duckdb.Error, OSError) as exc:
            log.warning("sink.entries_read_in_python", error=str(exc).splitlines()[0][:300])
            with suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS {stage}")
            return Verdict(frozenset(), frozenset())

    # ---- snapshots -----------------------------------------------------------

    def commit_snapshot(self, write: SnapshotWrite) -> None:
        """Merge the complete current rows of one scope of a snapshot table, in ONE transaction."""
        self._writable()
        table = self._snapshot_table(write.table, scoped=bool(write.scope))
        rows = dedupe_rows(table, [write.rows])
        if write.scope:
            column = table.scope_column
            strays = {r.get(column) for r in rows} - {write.scope}
            if strays:
                raise SinkError(
                    f"snapshot of {table.name} for {column} {write.scope} has rows of {column} "
                    f"{min(map(str, strays))}"
                )
        rejects = reject_rows(write.rejects)

        def body(con: duckdb.DuckDBPyConnection) -> None:
            if rows:
                with self._staged(rows, input_columns(table)):
                    merge.merge_snapshot(con, table, _STAGE, write.scope, write.seen_at)
            else:
                merge.merge_snapshot(con, table, None, write.scope, write.seen_at)
            self._merge_rejects(rejects)
            if write.marks:
                marks.set_marks(con, write.marks)

        self._atomically(f"merging the {table.name} snapshot {write.scope or '(org)'}", body)

    def retire_snapshot_scopes(self, table: str, live_scopes: set[str], seen_at: datetime) -> int:
        """Mark removed the live rows of scopes that no longer exist (projects that left
        the organization, automations purged); return how many."""
        self._writable()
        spec = self._snapshot_table(table, scoped=True)
        return self._atomically(
            f"retiring scopes that left {table}",
            lambda con: merge.retire_scopes(con, spec, sorted(live_scopes), seen_at),
        )

    # ---- state ---------------------------------------------------------------

    def register_partitions(self, run_id: str, partitions: Sequence[Partition]) -> dict[str, Checkpoint]:
        """Record planned partitions (new ones as not done); return each key's checkpoint."""
        self._writable()
        self._run_id = run_id
        return self._atomically(
            f"registering {len(partitions)} partition(s)",
            lambda con: checkpoints.register_partitions(con, run_id, partitions),
        )

    def pending_partitions(self) -> list[tuple[Partition, Checkpoint]]:
        """Partitions not done, from any run, with their checkpoints."""
        return self._read("reading pending partitions", checkpoints.pending_partitions)

    def covered_until(self) -> dict[tuple[str, str], datetime]:
        """(stream, scope) → furthest planned window end; scope "" = organization-wide."""
        return self._read("reading covered windows", checkpoints.covered_until)

    def reset_partition(self, key: str) -> bool:
        """Forget a partition's cursor/offset (e.g. the server refused it); False if unknown."""
        self._writable()
        return self._atomically(f"resetting partition {key}", lambda con: checkpoints.reset_partition(con, key))

    def start_run(self, run_id: str, command: str, started_at: datetime) -> None:
        """Record a run as running; later checkpoints are stamped with its id."""
        self._writable()
        self._run_id = run_id
        self._atomically(
            f"recording the start of run {run_id}", lambda con: runs.start_run(con, run_id, command, started_at)
        )

    def finish_run(self, run_id: str, status: str, ended_at: datetime, stats: dict[str, Any]) -> None:
        self._writable()
        self._atomically(
            f"recording the end of run {run_id}", lambda con: runs.finish_run(con, run_id, status, ended_at, stats)
        )

    # ---- the alert outbox ----------------------------------------------------

    def record_alert(self, alert_id: str, run_id: str, cutoff: datetime, document: str) -> None:
        """Commit an alert as pending before anything is sent (see `state.alerts`)."""
        self._writable()
        self._atomically(
            f"recording alert {alert_id}",
            lambda con: alerts.enqueue_alert(con, alert_id, run_id, cutoff, cutoff, document),
        )

    def alert_cutoff(self) -> datetime | None:
        return self._read("reading the last alert", alerts.last_cutoff)

    def pending_alerts(self) -> list[tuple[str, str]]:
        return self._read("reading pending alerts", alerts.pending_alerts)

    def mark_alert(self, alert_id: str, error: str | None, at: datetime) -> None:
        self._writable()
        self._atomically(f"recording delivery of {alert_id}", lambda con: alerts.mark_sent(con, alert_id, error, at))

    # ---- reading -------------------------------------------------------------

    def read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of one query the harvester itself wrote (sources reading their stored
        state); user SQL goes through `query`, which is checked read-only."""
        return self._read("reading stored state", lambda con: con.execute(sql, dict(params or {})).fetchall())

    def status(self, now: datetime) -> list[dict[str, Any]]:
        """One dict per table (see `sinks.status.table_status`)."""
        return self._read("reading the status", lambda con: table_status(con, now, self.tables.values()))

    def query(self, sql: str, *, max_rows: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read-only query (read-only warehouses only); return column names and rows."""
        con = self._connection()
        if not self.read_only:
            raise SinkError("queries run only on a warehouse opened read-only")
        return run_read_only(con, sql, max_rows, where=self.path)

    def live_reader(self) -> LiveReader:
        """Read-only cursors on this (writable) database, for `status` and `sql` during
        a run (see `sinks.live_reads`). Call it from the thread that owns the
        connection, while nothing else uses it (the run does so before writing)."""
        return LiveReader(self._writable().cursor(), self.tables, self.path)

    # ---- internals -----------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise SinkError(f"the warehouse {self.path} is closed")
        return self._con

    def _writable(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise SinkError(f"the warehouse {self.path} was opened read-only")
        return self._connection()

    def _read(self, what: str, fn: Any) -> Any:
        con = self._connection()
        try:
            return fn(con)
        except duckdb.Error as exc:
            raise sink_error(what, exc, self.path) from exc

    def _atomically(self, what: str, body: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """Run `body` in one transaction; on any error roll back and raise SinkError.

        DuckDB reserves far more memory than it uses to materialise a multi-MB
        string (a 20 MB entry needs a 256 MB limit), so an out-of-memory failure is
        retried, after the rollback, under a 4x then 16x limit; the configured
        limit is restored afterwards. Ordinary batches never pay for this.
        """
        con = self._connection()
        for factor in _OOM_RETRY_FACTORS:
            self._limit_now = self._memory_limit * factor
            self._set_memory_limit(self._limit_now)
            try:
                return self._transaction_once(con, what, body)
            except duckdb.OutOfMemoryException as exc:
                if factor == _OOM_RETRY_FACTORS[-1]:
                    raise sink_error(what, exc, self.path) from exc
            finally:  # after COMMIT or ROLLBACK: a SET is allowed again
                self._limit_now = self._memory_limit
                self._set_memory_limit(self._memory_limit, quiet=True)
        raise AssertionError("unreachable")

    def _transaction_once(
        self, con: duckdb.DuckDBPyConnection, what: str, body: Callable[[duckdb.DuckDBPyConnection], _T]
    ) -> _T:
        con.execute("BEGIN TRANSACTION")
        try:
            result = body(con)
            con.execute("COMMIT")
            return result
        except duckdb.OutOfMemoryException:
            self._rollback(con)
            raise
        except (duckdb.Error, OSError, orjson.JSONEncodeError) as exc:
            self._rollback(con)
            raise sink_error(what, exc, self.path) from exc
        except BaseException:
            self._rollback(con)
            raise

    def _set_memory_limit(self, limit: int, *, quiet: bool = False) -> None:
        """SET memory_limit unless it already has that value; `quiet` ignores failures
        (used while unwinding, where the original error matters more)."""
        if limit == self._limit_set:
            return
        try:
            self._connection().execute(f"SET memory_limit = '{int(limit)}B'")
            self._limit_set = limit
        except duckdb.Error:
            if not quiet:
                raise

    @staticmethod
    def _rollback(con: duckdb.DuckDBPyConnection) -> None:
        # Fails only when no transaction is left (COMMIT failed after ending it, or the
        # database is invalidated); either way there is nothing to undo.
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")

    @contextmanager
    def _staged(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> Iterator[None]:
        """Load rows into the temp table `_stage` for the duration of the block.

        When the block fails, the transaction is usually aborted and the DROP would
        fail too ("Current transaction is aborted"), replacing the real cause (a
        checksum mismatch, a full disk); the rollback drops the table anyway, so the
        DROP is then only attempted and the block's own error goes up.
        """
        con = self._connection()
        assert self._stager is not None, "stager exists on every writable warehouse"
        with self._stager.staged(rows, columns) as staged:
            with self._room_to_read(staged.size):
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM {staged.sql}")
            try:
                yield
            except BaseException:
                with suppress(duckdb.Error):
                    con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
                raise
            con.execute(f"DROP TABLE IF EXISTS {_STAGE}")

    @contextmanager
    def _room_to_read(self, file_size: int, *, expansion: int = 0) -> Iterator[None]:
        """Lift the memory limit for one `read_json` by the buffers it reserves, plus
        `expansion` times the file's size of working memory.

        DuckDB reserves max(32 MiB, 2 x maximum_object_size) per thread for a JSON
        read whatever the file, so a small configured limit (32 MB keeps RSS
        flat) would fail every read. Typing entry pages also holds several copies
        of their text at once (measured: 40 MB + 6.5 x the file for 1-50 pages).
        A read may use half the limit (the other half caches table blocks, which
        DuckDB evicts when it must); the limit is lifted by what it needs beyond
        that, and comes back when the statement ends.
        """
        need = self._threads * max(_JSON_READ_BUFFER, 2 * object_size_for(file_size))
        if expansion:
            need += expansion * file_size + _STAGE_SLACK
        lift = need - self._limit_now // 2  # a read may use half the limit; the rest caches table blocks
        if lift <= 0:
            yield
            return
        self._set_memory_limit(self._limit_now + lift)
        try:
            yield
        finally:  # in an aborted transaction this fails quietly; `_atomically` restores it
            self._set_memory_limit(self._limit_now, quiet=True)

    def _check_page(self, write: PageWrite) -> None:
        table = self.tables.get(write.table)
        where = write.partition.label() if write.partition else write.stream
        if table is None or table.is_snapshot:
            raise SinkError(f"page for {where} targets {write.table!r}, not a table merged by key")
        if (write.partition is None) != (write.checkpoint is None):
            raise CheckpointError(f"page for {where}: a partition and its checkpoint travel together")
        if write.partition and write.checkpoint and write.checkpoint.partition_key != write.partition.key:
            raise CheckpointError(
                f"checkpoint for {write.checkpoint.partition_key} rides on a page of partition "
                f"{write.partition.key} ({write.partition.label()})"
            )

    def _snapshot_table(self, name: str, *, scoped: bool) -> Table:
        table = self.tables.get(name)
        if table is None or not table.is_snapshot:
            raise SinkError(f"{name!r} is not a snapshot table")
        if scoped and table.scope_column is None:
            raise SinkError(f"{name} is one snapshot for the whole table: it has no scopes")
        return table

    def _merge_rejects(self, rejects: list[dict[str, Any]]) -> None:
        if rejects:
            with self._staged(rejects, _REJECT_INPUT):
                merge.merge_rejects(self._connection(), _STAGE)
