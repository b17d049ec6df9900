"""What `harvester status` prints, one dict per table, and the `sql` command's guard.

Works on a read-only connection and on older files: a table or state table that
does not exist yet reads as empty rather than failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb

from state.checkpoints import PARTITIONS_TABLE
from state.errors import SinkError
from state.runs import RUNS_TABLE, last_run

from .connection import sink_error
from .schema import REJECTS_TABLE, existing_tables, quote_ident
from .tables import Table, merge_name

__all__ = ["READ_ONLY_STATEMENTS", "check_read_only_sql", "run_read_only", "table_status"]

READ_ONLY_STATEMENTS = frozenset(
    {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA}
)

def check_read_only_sql(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT / EXPLAIN / PRAGMA before running it.

    Only a friendlier message: safety comes from the sealed connection (see
    `sinks.connection`), which refuses every write, file, extension and setting
    whatever statement asks, including a PRAGMA that passes this check.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SinkError(f"cannot parse the query: {str(exc).splitlines()[0]}") from exc
    if not statements:
        raise SinkError("the query is empty")
    for statement in statements:
        if statement.type not in READ_ONLY_STATEMENTS:
            kind = statement.type.name
            raise SinkError(f"`sql` runs read-only queries (SELECT, EXPLAIN, PRAGMA); refused {kind}")


def table_status(con: duckdb.DuckDBPyConnection, now: datetime, tables: Iterable[Table]) -> list[dict[str, Any]]:
    """Per table: rows, newest instant, how far its stream is complete, pending chains, last run.

    A table's partitions and rejects are those of the stream of the same name (a
    windowed stream feeds the table it is named after).

    `covered_until` is the instant before which every planned window of the stream
    is fetched, for every scope: per scope the start of its earliest pending
    partition, else the end of its latest done one; then the minimum over scopes.
    """
    present = existing_tables(con)
    run = last_run(con) if RUNS_TABLE in present else None
    coverage = _stream_coverage(con) if PARTITIONS_TABLE in present else {}
    rejects = _rejects_by_stream(con) if REJECTS_TABLE in present else {}
    result = []
    for table in tables:
        name = stream = table.name
        covered, pending = coverage.get(stream, (None, 0))
        rows, removed, newest = _table_counts(con, table) if name in present else (0, None, None)
        result.append(
            {
                "table": name,
                "kind": merge_name(table.merge),
                "rows": rows,
                "removed": removed,
                "newest": newest,
                "covered_until": covered,
                "lag_seconds": (now - covered).total_seconds() if covered else None,
                "pending_partitions": pending,
                "rejects": rejects.get(stream, 0),
                "last_run_id": run["run_id"] if run else None,
                "last_run_status": run["status"] if run else None,
                "last_run_ended_at": run["ended_at"] if run else None,
            }
        )
    return result


def _table_counts(con: duckdb.DuckDBPyConnection, table: Table) -> tuple[int, int | None, Any]:
    newest = quote_ident(table.newest_column or "harvested_at")
    removed = "count(removed_at)" if table.is_snapshot else "NULL"
    row = con.execute(
        f"SELECT count(*), {removed}, max({newest}) FROM {quote_ident(table.name)}"
    ).fetchone()
    if row is None:
        return 0, None, None
    return int(row[0]), row[1], row[2]


def _stream_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[datetime | None, int]]:
    rows = con.execute(
        f"""
        WITH scoped AS (
            SELECT stream, start, "end", coalesce(done, false) AS done,
                   unnest(CASE WHEN coalesce(len(project_ids), 0) = 0 THEN [''::VARCHAR]
                               ELSE project_ids END) AS scope
            FROM {PARTITIONS_TABLE}
        ), per_scope AS (
            SELECT stream, scope,
                   coalesce(min(start) FILTER (WHERE NOT done),
                            max("end") FILTER (WHERE done)) AS until
            FROM scoped GROUP BY stream, scope
        ), pending AS (
            SELECT stream, count(*) FILTER (WHERE NOT coalesce(done, false)) AS n
            FROM {PARTITIONS_TABLE} GROUP BY stream
        )
        SELECT p.stream, (SELECT min(until) FROM per_scope AS s WHERE s.stream = p.stream), p.n
        FROM pending AS p
        """
    ).fetchall()
    return {stream: (until, int(n)) for stream, until, n in rows}


def _rejects_by_stream(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(f"SELECT stream, count(*) FROM {REJECTS_TABLE} GROUP BY stream").fetchall()
    return {stream: int(n) for stream, n in rows}


def run_read_only(
    con: duckdb.DuckDBPyConnection, sql: str, max_rows: int | None = None, *, where: object = "the warehouse"
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Check `sql` is read-only, run it, return column names and rows.

    One function for the warehouse and the lake, so `sql` and `sql --lake` accept and
    refuse exactly the same statements and fail with the same one-line error; `where`
    (the file or the lake) is named when storage fails."""
    check_read_only_sql(con, sql)
    try:
        result = con.execute(sql)
        columns = [d[0] for d in result.description or ()]
        rows = result.fetchall() if max_rows is None else result.fetchmany(max_rows)
    except duckdb.Error as exc:
        raise sink_error("the query", exc, str(where)) from exc
    return columns, rows
