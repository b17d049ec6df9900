"""The warehouse: one DuckDB file holding the harvested tables and the harvest state.

One writer owns the read-write connection (it is not thread-safe: call it from
one thread at a time). Every write is one transaction: a batch of pages commits
its rows, its rejects and its checkpoints together or not at all, so a killed run
resumes exactly after the last page it stored. Readers (`status`, `sql`) open the
file read-only, which DuckDB refuses while a writer has it open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ContextManager

import duckdb
import orjson

from harvester.errors import CheckpointError, ConfigError, RunLockedError, SinkError
from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
from harvester.planner import Partition
from harvester.streams import TABLES, Kind, Table
from state import checkpoints, runs

from . import merge
from .batch import dedupe_rows, reject_rows
from .schema import REJECTS_COLUMNS, ensure_schema, input_columns
from .staging import Stager, choose_stage_root, object_size_for
from .status import check_read_only_sql, table_status

__all__ = ["DEFAULT_MEMORY_LIMIT", "Warehouse", "parse_size"]

DEFAULT_MEMORY_LIMIT = "128MB"
_STAGE = "_stage"
_REJECT_INPUT = tuple(c for c in REJECTS_COLUMNS if c[0] != "rejected_at")
_LOCK_PID = re.compile(r"PID (\d+)")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


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
    ) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only
        self._memory_limit = memory_limit
        self._stager = stager
        self._run_id: str | None = None
        self._threads: int | None = None

    # ---- opening and closing -------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
    ) -> Warehouse:
        """Open (creating if needed) the file, its tables and state tables, for writing."""
        path = Path(path)
        limit = parse_size(memory_limit)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the warehouse directory {path.parent}: {exc}") from exc
        con = _connect(path, read_only=False, memory_limit=memory_limit, threads=threads)
        warehouse = cls(con, path, read_only=False, memory_limit=limit, stager=None)
        try:
            with warehouse._transaction(f"creating the schema of {path}"):
                ensure_schema(con)
            warehouse._stager = Stager(choose_stage_root(path))
        except BaseException:
            warehouse.close()
            raise
        return warehouse

    @classmethod
    def open_read_only(cls, path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> Warehouse:
        """Open an existing file for `status` and `sql`; never creates anything."""
        path = Path(path)
        if not path.is_file():
            raise SinkError(f"no warehouse at {path}: run `harvester run` or `harvester backfill` first")
        con = _connect(path, read_only=True, memory_limit=memory_limit, threads=None)
        return cls(con, path, read_only=True, memory_limit=parse_size(memory_limit), stager=None)

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

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- windowed pages ------------------------------------------------------

    def commit_pages(self, writes: Sequence[PageWrite]) -> None:
        """Commit a coalesced batch of pages (rows, rejects, checkpoints) in ONE transaction.

        Rules by table kind: LOG keeps the first copy of an id; EXECUTIONS keeps the
        newest; CONSUMPTION replaces all rows of each (project, period) in the batch.
        On any failure nothing of the batch stays and SinkError is raised.
        """
        if not writes:
            return
        con = self._writable()
        by_table: dict[str, list[PageWrite]] = {}
        for write in writes:
            _check_page(write)
            by_table.setdefault(write.table, []).append(write)
        batches = {
            name: dedupe_rows(TABLES[name], [w.rows for w in group]) for name, group in by_table.items()
        }
        rejects = [r for w in writes for r in reject_rows(w.rejects, w.partition.key)]
        what = f"committing {len(writes)} page(s) to {', '.join(by_table)}"
        with self._transaction(what):
            for name, rows in batches.items():
                if rows:
                    table = TABLES[name]
                    with self._staged(rows, input_columns(table)):
                        merge.merge_windowed(con, table, _STAGE)
            self._merge_rejects(rejects)
            checkpoints.upsert_checkpoints(con, self._run_id, [(w.partition, w.checkpoint) for w in writes])

    # ---- snapshots -----------------------------------------------------------

    def commit_snapshot(self, write: SnapshotWrite) -> None:
        """Merge the complete current rows of one scope of a snapshot table, in ONE transaction."""
        con = self._writable()
        table = _snapshot_table(write.table, per_project=bool(write.scope))
        rows = dedupe_rows(table, [write.rows])
        if write.scope:
            strays = {r.get("project_id") for r in rows} - {write.scope}
            if strays:
                raise SinkError(
                    f"snapshot of {table.name} for project {write.scope} has rows of project "
                    f"{sorted(map(str, strays))[0]}"
                )
        rejects = reject_rows(write.rejects)
        with self._transaction(f"merging the {table.name} snapshot {write.scope or '(org)'}"):
            if rows:
                with self._staged(rows, input_columns(table)):
                    merge.merge_snapshot(con, table, _STAGE, write.scope, write.seen_at)
            else:
                merge.merge_snapshot(con, table, None, write.scope, write.seen_at)
            self._merge_rejects(rejects)

    def retire_snapshot_scopes(self, table: str, live_scopes: set[str], seen_at: datetime) -> int:
        """Mark removed the live rows of projects no longer in the organization; return how many."""
        con = self._writable()
        spec = _snapshot_table(table, per_project=True)
        with self._transaction(f"retiring projects that left {table}"):
            return merge.retire_scopes(con, spec, sorted(live_scopes), seen_at)

    # ---- state ---------------------------------------------------------------

    def register_partitions(self, run_id: str, partitions: Sequence[Partition]) -> dict[str, Checkpoint]:
        """Record planned partitions (new ones as not done); return each key's checkpoint."""
        con = self._writable()
        self._run_id = run_id
        with self._transaction(f"registering {len(partitions)} partition(s)"):
            return checkpoints.register_partitions(con, run_id, partitions)

    def pending_partitions(self) -> list[tuple[Partition, Checkpoint]]:
        """Partitions not done, from any run, with their checkpoints."""
        return self._read("reading pending partitions", checkpoints.pending_partitions)

    def covered_until(self) -> dict[tuple[str, str], datetime]:
        """(stream, scope) → furthest planned window end; scope "" = organization-wide."""
        return self._read("reading covered windows", checkpoints.covered_until)

    def reset_partition(self, key: str) -> bool:
        """Forget a partition's cursor/offset (e.g. the server refused it); False if unknown."""
        con = self._writable()
        with self._transaction(f"resetting partition {key}"):
            return checkpoints.reset_partition(con, key)

    def start_run(self, run_id: str, command: str, started_at: datetime) -> None:
        """Record a run as running; later checkpoints are stamped with its id."""
        con = self._writable()
        self._run_id = run_id
        with self._transaction(f"recording the start of run {run_id}"):
            runs.start_run(con, run_id, command, started_at)

    def finish_run(self, run_id: str, status: str, ended_at: datetime, stats: dict[str, Any]) -> None:
        con = self._writable()
        with self._transaction(f"recording the end of run {run_id}"):
            runs.finish_run(con, run_id, status, ended_at, stats)

    # ---- reading -------------------------------------------------------------

    def status(self, now: datetime) -> list[dict[str, Any]]:
        """One dict per table (see `sinks.status.table_status`)."""
        return self._read("reading the status", lambda con: table_status(con, now))

    def query(self, sql: str, *, max_rows: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read-only query (read-only warehouses only); return column names and rows."""
        con = self._connection()
        if not self.read_only:
            raise SinkError("queries run only on a warehouse opened read-only")
        check_read_only_sql(con, sql)
        try:
            result = con.execute(sql)
            columns = [d[0] for d in result.description or ()]
            rows = result.fetchall() if max_rows is None else result.fetchmany(max_rows)
        except duckdb.Error as exc:
            raise SinkError(f"query failed: {_one_line(exc)}") from exc
        return columns, rows

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
            raise SinkError(f"{what} failed: {_one_line(exc)}") from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT; on any error ROLLBACK, and wrap low-level errors in SinkError."""
        con = self._connection()
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except (duckdb.Error, OSError, orjson.JSONEncodeError) as exc:
            self._rollback(con)
            raise SinkError(f"{what} failed: {_one_line(exc)}") from exc
        except BaseException:
            self._rollback(con)
            raise

    @staticmethod
    def _rollback(con: duckdb.DuckDBPyConnection) -> None:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # no transaction left (COMMIT failed after ending it, or the database is invalidated)

    @contextmanager
    def _staged(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> Iterator[None]:
        """Load rows into the temp table `_stage` for the duration of the block."""
        con = self._connection()
        assert self._stager is not None, "stager exists on every writable warehouse"
        with self._stager.staged(rows, columns) as staged, self._room_for(staged.longest):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM {staged.sql}")
            try:
                yield
            finally:
                con.execute(f"DROP TABLE IF EXISTS {_STAGE}")

    def _room_for(self, longest: int) -> ContextManager[None]:
        """Raise memory_limit while reading a file with huge entries, then restore it.

        DuckDB reserves about 2 x maximum_object_size per thread for JSON reads; with
        a multi-MB entry that can exceed a small limit, so make room for this one read.
        """
        if self._threads is None:
            row = self._connection().execute("SELECT current_setting('threads')").fetchone()
            self._threads = int(row[0]) if row else 1
        need = 2 * self._threads * object_size_for(longest)
        if need * 2 <= self._memory_limit:
            return nullcontext()
        return self._memory_limit_raised(self._memory_limit + need)

    @contextmanager
    def _memory_limit_raised(self, limit: int) -> Iterator[None]:
        con = self._connection()
        con.execute(f"SET memory_limit = '{int(limit)}B'")
        try:
            yield
        finally:
            con.execute(f"SET memory_limit = '{int(self._memory_limit)}B'")

    def _merge_rejects(self, rejects: list[dict[str, Any]]) -> None:
        if rejects:
            with self._staged(rejects, _REJECT_INPUT):
                merge.merge_rejects(self._connection(), _STAGE)


def parse_size(text: str) -> int:
    """`128MB`, `1GiB`, `500kb` → bytes (DuckDB's units: KB = 1000, KiB = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"memory limit {text!r} is not a size like 128MB or 1GiB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def _connect(path: Path, *, read_only: bool, memory_limit: str, threads: int | None) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {"memory_limit": memory_limit, "preserve_insertion_order": False}
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        message = str(exc)
        if "lock" in message.lower():
            pid = _LOCK_PID.search(message)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise RunLockedError(
                f"the warehouse {path} is in use by {who} (a harvester run?); wait for it or run later"
            ) from exc
        raise SinkError(f"cannot open the warehouse {path}: {_one_line(exc)}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error as exc:
        con.close()
        raise SinkError(f"cannot configure the warehouse {path}: {_one_line(exc)}") from exc
    return con


def _check_page(write: PageWrite) -> None:
    table = TABLES.get(write.table)
    if table is None or table.kind is Kind.SNAPSHOT:
        raise SinkError(f"page for {write.partition.label()} targets {write.table!r}, not a windowed table")
    if write.checkpoint.partition_key != write.partition.key:
        raise CheckpointError(
            f"checkpoint for {write.checkpoint.partition_key} rides on a page of partition "
            f"{write.partition.key} ({write.partition.label()})"
        )


def _snapshot_table(name: str, *, per_project: bool) -> Table:
    table = TABLES.get(name)
    if table is None or table.kind is not Kind.SNAPSHOT:
        raise SinkError(f"{name!r} is not a snapshot table")
    if per_project and "project_id" not in table.column_names:
        raise SinkError(f"{name} is organization-wide: it has no per-project scopes")
    return table


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

