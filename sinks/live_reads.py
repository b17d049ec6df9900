"""Read-only queries on a database a run is writing: `status` and `sql` during a run.

DuckDB lets one process write a file and refuses every other process, even a
read-only one, while it does. So during a run the run itself answers readers (see
`harvester.live`), each query on a fresh cursor: a separate DuckDB connection to the
same database, which may run in another thread while the writer commits, and which
sees only committed data (a snapshot taken when its transaction begins).

Why a query here cannot write, from the outside in:

1. The database instance is confined (`sinks.connection.confine`, set when the writer
   opens it, inherited by every cursor): no file but its own and the writer's private
   stage directory can be opened, no extension installed or loaded.
2. Each query runs in a `BEGIN TRANSACTION READ ONLY` that is always rolled back: DuckDB
   refuses any change to a table, a sequence or the catalog inside it (this also covers
   `EXPLAIN ANALYZE INSERT`, which executes its statement), and nothing is committed.
3. Only one statement, a SELECT or an EXPLAIN of a SELECT, is run. This is what keeps
   `COPY ... TO` (a file write inside the stage directory, which 1 must allow) and
   `SET`/`PRAGMA` (settings are shared by the whole instance, and the writer changes its
   memory limit per batch, so `lock_configuration` cannot be used) out. An EXPLAIN is
   rebuilt from the SELECT it wraps, after checking it parses as exactly one SELECT, so
   `EXPLAIN ANALYZE COPY ...` is refused rather than trusted.

Queries share the run's memory limit and spill space: a heavy one fails with the
storage error rather than slowing the run for long (heavy analysis belongs on the
Parquet lake). A cursor in use can be interrupted (`interrupt_all`) so a run never
waits for a reader to end.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from state.errors import SinkError

from .connection import sink_error
from .status import check_read_only_sql, table_status
from .tables import Table

__all__ = ["LiveQuery", "LiveReader", "live_statement"]

_EXPLAIN = re.compile(r"\s*explain\s+", re.IGNORECASE)


def live_statement(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The SQL to run for `sql` on a live database, or SinkError saying why not.

    The ordinary check runs first (same messages as `sql` outside a run); then the
    stricter rule of this module: one statement, a SELECT or EXPLAIN of a SELECT."""
    check_read_only_sql(con, sql)
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise SinkError(f"during a run `sql` runs one statement at a time; got {len(statements)}")
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return sql
    if statement.type == duckdb.StatementType.EXPLAIN:
        return f"EXPLAIN {_explained_select(con, statement.query)}"
    raise SinkError(
        f"during a run `sql` runs SELECT or EXPLAIN SELECT only; refused {statement.type.name} "
        "(run it when the run has ended)"
    )


def _explained_select(con: duckdb.DuckDBPyConnection, text: str) -> str:
    match = _EXPLAIN.match(text)
    inner = text[match.end() :] if match else ""
    try:
        parsed = con.extract_statements(inner) if inner.strip() else []
    except duckdb.Error:
        parsed = []
    if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
        raise SinkError(
            "during a run `sql` explains a plain SELECT only (no EXPLAIN ANALYZE or options); "
            "run it when the run has ended"
        )
    return inner


class LiveQuery:
    """One running query: its columns, then rows a chunk at a time; `close` always."""

    def __init__(self, reader: LiveReader, cursor: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
        self._reader = reader
        self._cursor = cursor
        self.columns = columns

    def fetch(self, n: int) -> list[tuple[Any, ...]]:
        try:
            return self._cursor.fetchmany(n)
        except duckdb.Error as exc:
            raise self._reader.error("the query", exc) from exc

    def interrupt(self) -> None:
        """Make the running fetch fail (the query ran too long)."""
        self._cursor.interrupt()

    def close(self) -> None:
        self._reader.release(self._cursor)


class LiveReader:
    """Hands out read-only cursors of a running database (see the module docstring).

    `parent` is a cursor made by the writer's thread before the run writes; only this
    object uses it, under a lock, to make one fresh cursor per query.
    """

    def __init__(self, parent: duckdb.DuckDBPyConnection, tables: Mapping[str, Table], path: Path) -> None:
        self._parent = parent
        self._tables = dict(tables)
        self._path = path
        self._lock = threading.Lock()
        self._active: set[duckdb.DuckDBPyConnection] = set()
        self._closed = False

    def status(self, now: datetime) -> list[dict[str, Any]]:
        """`harvester status`'s rows, from committed data."""
        with self._transaction() as cursor:
            try:
                return table_status(cursor, now, self._tables.values())
            except duckdb.Error as exc:
                raise self.error("reading the status", exc) from exc

    def open_query(self, sql: str) -> LiveQuery:
        """Check and start `sql`; the caller fetches and closes the `LiveQuery`."""
        cursor = self._acquire()
        try:
            statement = live_statement(cursor, sql)
            result = cursor.execute(statement)
            columns = [d[0] for d in result.description or ()]
        except BaseException as exc:
            self.release(cursor)
            if isinstance(exc, duckdb.Error):
                raise self.error("the query", exc) from exc
            raise
        return LiveQuery(self, cursor, columns)

    def interrupt_all(self) -> None:
        """Stop every running query (its fetch raises); used when the run ends."""
        with self._lock:
            for cursor in self._active:
                cursor.interrupt()

    def close(self) -> None:
        """Interrupt what runs and refuse new cursors. The cursors themselves are closed
        by their users (and by DuckDB with the writer's connection)."""
        with self._lock:
            self._closed = True
            for cursor in self._active:
                cursor.interrupt()
        with suppress(duckdb.Error):
            self._parent.close()

    def error(self, what: str, exc: duckdb.Error) -> SinkError:
        if isinstance(exc, duckdb.InterruptException):
            return SinkError(f"{what} was stopped: the run ended or the query ran too long; query again")
        return sink_error(what, exc, self._path)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._acquire()
        try:
            yield cursor
        finally:
            self.release(cursor)

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise SinkError("the run has ended; query again")
            cursor = self._parent.cursor()
            self._active.add(cursor)
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
        except duckdb.Error as exc:
            self.release(cursor)
            raise self.error("starting a read", exc) from exc
        return cursor

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Roll back (a read-only transaction has nothing to keep) and close."""
        with self._lock:
            self._active.discard(cursor)
        with suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
        with suppress(duckdb.Error):
            cursor.close()
