"""The SQL that merges a staged, already-deduplicated batch into a table, one per merge rule.

Every function runs inside the caller's transaction and reads the batch from a
temp table (`stage`). There are no primary keys: uniqueness comes from anti-joins,
which is correct because exactly one writer ever runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import duckdb

from .schema import HARVESTED_COLUMN, REJECTS_TABLE, input_columns, quote_ident
from .tables import Column, FirstWins, NewestWins, ReplaceGroup, Table

_DAY = 86_400
MAX_PROBE_RANGES = 32  # ranges in one probe: a plan of bounded size

__all__ = [
    "MAX_PROBE_RANGES",
    "day_numbers",
    "instant_column",
    "merge_rejects",
    "merge_snapshot",
    "merge_windowed",
    "probe_ranges",
    "retire_scopes",
]


def merge_windowed(
    con: duckdb.DuckDBPyConnection, table: Table, stage: str, days: Sequence[int | None] | None = None
) -> None:
    """Merge a batch by the table's rule; `harvested_at` = the transaction's now().

    `days`: the staged rows' distinct `day_numbers`, when the caller knows them already.
    """
    match table.merge:
        case FirstWins():
            _insert_absent(con, table, stage, days)
        case NewestWins():
            _delete_matching(con, table.name, stage, table.key)
            _insert_all(con, table, stage)
        case ReplaceGroup(columns):
            _delete_matching(con, table.name, stage, columns, distinct=True)
            _insert_all(con, table, stage)
        case _:
            raise ValueError(f"{table.name} is a snapshot table, not a windowed one")


def _insert_absent(
    con: duckdb.DuckDBPyConnection, table: Table, stage: str, days: Sequence[int | None] | None
) -> None:
    """Insert only keys not stored yet: the first copy of an immutable entry stays.

    When every staged row has a `day_column` (a timestamp), the probe only looks at
    stored rows within a day of a staged row (`_near`): DuckDB reads that timestamp
    column first and fetches the stored keys of the rows it keeps, so the probe costs
    the rows near the batch, not the whole table. This relies on a log entry's
    `created_at` never moving by more than that day between fetches of it (it is
    immutable in the API).
    """
    narrow, params = "", {}
    day = instant_column(table.columns, table.day_column)
    if day:
        if days is None:
            days = [d for (d,) in con.execute(f"SELECT DISTINCT {day_numbers(day)} FROM {stage}").fetchall()]
        narrow, params = _near(day, days)
    cols = _cols(table)
    con.execute(
        f"INSERT INTO {quote_ident(table.name)} ({cols}, {HARVESTED_COLUMN}) "
        f"SELECT {_cols(table, 'n')}, now() FROM {stage} AS n "
        f"WHERE NOT EXISTS (SELECT 1 FROM {quote_ident(table.name)} AS o "
        f"WHERE {_match(table.key, 'o', 'n')}{narrow})",
        params,
    )


def day_numbers(day: str) -> str:
    """SQL of the UTC day number (days since 1970, rounded down also before it) of the
    timestamp column `day`."""
    return f"floor(epoch_ms({day}) / {_DAY * 1000})::BIGINT"


def _near(day: str, days: Sequence[int | None]) -> tuple[str, dict[str, int]]:
    """A filter on stored rows `o` keeping those within a day of the staged rows'
    `days` (`probe_ranges`), as constant ranges DuckDB pushes into its scan;
    ("", {}) when a staged time is NULL (nothing to narrow by). Bounds travel as
    epoch seconds that DuckDB turns into instants (its range is wider than Python's
    datetime, so an entry stamped in year 9999 or 1 is no problem)."""
    if not days or any(d is None for d in days):
        return "", {}
    ranges = probe_ranges([d for d in days if d is not None])
    params: dict[str, int] = {}
    for k, (lo, hi) in enumerate(ranges):
        params[f"lo{k}"], params[f"hi{k}"] = lo, hi
    filters = " OR ".join(
        f"o.{day} BETWEEN to_timestamp($lo{k}) AND to_timestamp($hi{k})" for k in range(len(ranges))
    )
    return f" AND ({filters})", params


def probe_ranges(days: Iterable[int]) -> list[tuple[int, int]]:
    """Where stored copies of rows stamped on these UTC day numbers can be: sorted,
    disjoint (lo, hi) epoch-second ranges covering from a day before each day to a
    day after it, one per run of nearby days, at most `MAX_PROBE_RANGES` (beyond,
    one range from the first to the last).

    Why runs of days and not the batch's min..max: a backfill commits pages of
    several slices at once (weeks apart), and their min..max spans most of the table.
    """
    runs: list[list[int]] = []
    for d in sorted(set(days)):
        if runs and d - runs[-1][1] <= 3:  # [first - 1, last + 2) days would touch
            runs[-1][1] = d
        else:
            runs.append([d, d])
    if len(runs) > MAX_PROBE_RANGES:
        runs = [[runs[0][0], runs[-1][1]]]
    return [((first - 1) * _DAY, (last + 2) * _DAY) for first, last in runs]


def instant_column(columns: Iterable[Column], day_column: str | None) -> str | None:
    """The quoted day column when it is a timestamp (the narrowing compares instants)."""
    types = {c.name: c.sql_type for c in columns}
    if day_column and types.get(day_column) == "TIMESTAMPTZ":
        return quote_ident(day_column)
    return None


def _delete_matching(
    con: duckdb.DuckDBPyConnection,
    name: str,
    stage: str,
    columns: Sequence[str],
    *,
    distinct: bool = False,
) -> None:
    """Delete stored rows sharing `columns` with any staged row (they are being replaced)."""
    source = stage
    if distinct:
        source = f"(SELECT DISTINCT {', '.join(map(quote_ident, columns))} FROM {stage})"
    con.execute(
        f"DELETE FROM {quote_ident(name)} AS o USING {source} AS n WHERE {_match(columns, 'o', 'n')}"
    )


def _insert_all(con: duckdb.DuckDBPyConnection, table: Table, stage: str) -> None:
    con.execute(
        f"INSERT INTO {quote_ident(table.name)} ({_cols(table)}, {HARVESTED_COLUMN}) "
        f"SELECT {_cols(table)}, now() FROM {stage}"
    )


def merge_snapshot(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    stage: str | None,
    scope: str,
    seen_at: datetime,
) -> None:
    """Merge the complete current rows of one scope (`stage` None: the scope is now empty).

    Present keys get every column refreshed, `last_seen_at = seen_at` and are revived;
    new keys are inserted as first seen now; keys of the scope that are missing are
    marked removed (once: an already removed row keeps its original `removed_at`).
    """
    name = quote_ident(table.name)
    params = {"seen": seen_at}
    if stage is not None:
        data = [c for c, _ in input_columns(table) if c not in table.key]
        sets = ", ".join(f"{quote_ident(c)} = n.{quote_ident(c)}" for c in data)
        sets = f"{sets}, " if sets else ""
        con.execute(
            f"UPDATE {name} AS o SET {sets}last_seen_at = $seen, removed_at = NULL "
            f"FROM {stage} AS n WHERE {_match(table.key, 'o', 'n')}",
            params,
        )
        con.execute(
            f"INSERT INTO {name} ({_cols(table)}, first_seen_at, last_seen_at, removed_at) "
            f"SELECT {_cols(table, 'n')}, $seen, $seen, NULL FROM {stage} AS n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {name} AS o WHERE {_match(table.key, 'o', 'n')})",
            params,
        )
    where = "o.removed_at IS NULL"
    scope_column = table.scope_column
    if scope and scope_column:
        where += f" AND o.{quote_ident(scope_column)} = $scope"
        params = {**params, "scope": scope}
    if stage is not None:
        where += f" AND NOT EXISTS (SELECT 1 FROM {stage} AS n WHERE {_match(table.key, 'o', 'n')})"
    con.execute(f"UPDATE {name} AS o SET removed_at = $seen WHERE {where}", params)


def retire_scopes(
    con: duckdb.DuckDBPyConnection, table: Table, live_scopes: Sequence[str], seen_at: datetime
) -> int:
    """Mark removed every live row whose scope is not among `live_scopes`; return the count."""
    column = quote_ident(table.scope_column or "")
    row = con.execute(
        f"UPDATE {quote_ident(table.name)} SET removed_at = $seen "
        "WHERE removed_at IS NULL "
        f"AND ({column} IS NULL OR NOT list_contains($live::VARCHAR[], {column}))",
        {"seen": seen_at, "live": list(live_scopes)},
    ).fetchone()
    return int(row[0]) if row else 0


def merge_rejects(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Add rejects not recorded yet (same stream and raw text = same id)."""
    cols = "id, stream, partition_key, reason, raw"
    con.execute(
        f"INSERT INTO {REJECTS_TABLE} ({cols}, rejected_at) "
        f"SELECT {cols}, now() FROM {stage} AS n "
        f"WHERE NOT EXISTS (SELECT 1 FROM {REJECTS_TABLE} AS o WHERE o.id = n.id)"
    )


def _cols(table: Table, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(c) for c, _ in input_columns(table))


def _match(columns: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote_ident(c)} = {right}.{quote_ident(c)}" for c in columns)
