"""The warehouse's DDL, derived from the sources' table specs plus the state tables.

No table declares a primary key or index: an ART index makes memory grow with the
row count and slows inserts, and the single writer deduplicates with anti-joins
instead. Migrations are additive only: a column the registry gained is added to an
existing table; nothing is dropped or retyped, so an older file keeps working.

`raw` (each entry's whole JSON) is stored with zstd rather than DuckDB's default
dictionary+FSST: it is most of a row's bytes, rarely filtered on, and zstd both
compresses it better (the 1M-row benchmark's file: 129 MB -> 71 MB) and costs the
writer less at each checkpoint (~2 µs a row less; `bench/writer.py`). Files made before keep
their columns as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

from state.alerts import ALERTS_COLUMNS, ALERTS_TABLE
from state.checkpoints import PARTITIONS_COLUMNS, PARTITIONS_TABLE
from state.marks import MARKS_COLUMNS, MARKS_TABLE
from state.runs import RUNS_COLUMNS, RUNS_TABLE

from .catalog import TABLES_COLUMNS, TABLES_TABLE, store_catalog
from .tables import Table

__all__ = [
    "REJECTS_COLUMNS",
    "REJECTS_TABLE",
    "SEEN_COLUMNS",
    "all_table_specs",
    "create_table_sql",
    "ensure_schema",
    "existing_tables",
    "input_columns",
    "quote_ident",
]

ColumnSpec = tuple[str, str]

REJECTS_TABLE = "_rejects"
REJECTS_COLUMNS: tuple[ColumnSpec, ...] = (
    ("id", "VARCHAR"),
    ("stream", "VARCHAR"),
    ("partition_key", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
    ("rejected_at", "TIMESTAMPTZ"),
)

# Filled by the writer, never by the caller's rows.
HARVESTED_COLUMN = "harvested_at"
SEEN_COLUMNS = ("first_seen_at", "last_seen_at", "removed_at")
_WRITER_COLUMNS = frozenset((HARVESTED_COLUMN, *SEEN_COLUMNS))


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier, so names like `end` or `offset` are safe."""
    return '"' + name.replace('"', '""') + '"'


def input_columns(table: Table) -> tuple[ColumnSpec, ...]:
    """The columns a caller's rows provide (everything but writer-filled timestamps)."""
    return tuple((c.name, c.sql_type) for c in table.columns if c.name not in _WRITER_COLUMNS)


def all_table_specs(tables: Iterable[Table]) -> dict[str, tuple[ColumnSpec, ...]]:
    """Every table the warehouse file holds, data (`tables`) and state, by name."""
    specs = {t.name: tuple((c.name, c.sql_type) for c in t.columns) for t in tables}
    specs[REJECTS_TABLE] = REJECTS_COLUMNS
    specs[PARTITIONS_TABLE] = PARTITIONS_COLUMNS
    specs[RUNS_TABLE] = RUNS_COLUMNS
    specs[TABLES_TABLE] = TABLES_COLUMNS
    specs[ALERTS_TABLE] = ALERTS_COLUMNS
    specs[MARKS_TABLE] = MARKS_COLUMNS
    return specs


_ZSTD_COLUMNS = frozenset({"raw"})


def create_table_sql(name: str, columns: Sequence[ColumnSpec]) -> str:
    cols = ", ".join(_column_sql(c, sql_type) for c, sql_type in columns)
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(name)} ({cols})"


def _column_sql(name: str, sql_type: str) -> str:
    compression = " USING COMPRESSION zstd" if name in _ZSTD_COLUMNS else ""
    return f"{quote_ident(name)} {sql_type}{compression}"


def existing_tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Tables of the main schema and their column names."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def ensure_schema(con: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> list[str]:
    """Create missing tables and add missing columns; return the statements run.

    The caller runs this inside a transaction so a half-migrated file cannot exist.
    """
    tables = list(tables)
    present = existing_tables(con)
    applied: list[str] = []
    for name, columns in all_table_specs(tables).items():
        if name not in present:
            statements = [create_table_sql(name, columns)]
        else:
            statements = [
                f"ALTER TABLE {quote_ident(name)} ADD COLUMN {_column_sql(c, sql_type)}"
                for c, sql_type in columns
                if c not in present[name]
            ]
        for sql in statements:
            con.execute(sql)
            applied.append(sql)
    store_catalog(con, tables)
    return applied
