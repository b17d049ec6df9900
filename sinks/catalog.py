"""The table specs a warehouse file holds, stored in the file itself (`_tables`).

Why in the file: `status`, `sql`, `export` and the lake read a warehouse without
knowing which sources wrote it (a source may since have left the config), so the
writer records each table's spec (columns, key, merge rule, day column) when it
creates or migrates the table, and readers load the specs back from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb
import orjson

from .tables import Column, FirstWins, Merge, NewestWins, ReplaceGroup, Snapshot, Table

__all__ = ["TABLES_COLUMNS", "TABLES_TABLE", "load_catalog", "store_catalog"]

TABLES_TABLE = "_tables"
TABLES_COLUMNS: tuple[tuple[str, str], ...] = (("name", "VARCHAR"), ("spec", "JSON"))


def store_catalog(con: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> None:
    """Record (or refresh) each table's spec; inside the caller's transaction."""
    for table in tables:
        con.execute(f"DELETE FROM {TABLES_TABLE} WHERE name = $name", {"name": table.name})
        con.execute(
            f"INSERT INTO {TABLES_TABLE} VALUES ($name, $spec)",
            {"name": table.name, "spec": orjson.dumps(_encode(table)).decode()},
        )


def load_catalog(con: duckdb.DuckDBPyConnection) -> dict[str, Table]:
    """Every recorded table spec, by name, in name order; empty for a file without `_tables`."""
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = $name AND table_schema = 'main' AND table_catalog = current_database()",
        {"name": TABLES_TABLE},
    ).fetchone()
    if not present or not present[0]:
        return {}
    rows = con.execute(f"SELECT name, spec FROM {TABLES_TABLE} ORDER BY name").fetchall()
    return {name: _decode(name, orjson.loads(spec)) for name, spec in rows}


def _encode(table: Table) -> dict[str, Any]:
    return {
        "columns": [[c.name, c.sql_type, c.source] for c in table.columns],
        "key": list(table.key),
        "merge": _encode_merge(table.merge),
        "day_column": table.day_column,
        "newest_column": table.newest_column,
    }


def _encode_merge(merge: Merge) -> dict[str, Any]:
    match merge:
        case ReplaceGroup(columns):
            return {"rule": "group", "columns": list(columns)}
        case Snapshot(scope_column):
            return {"rule": "snapshot", "scope_column": scope_column}
        case NewestWins():
            return {"rule": "newest"}
        case _:
            return {"rule": "first"}


def _decode(name: str, spec: dict[str, Any]) -> Table:
    return Table(
        name=name,
        columns=tuple(Column(*c) for c in spec["columns"]),
        key=tuple(spec["key"]),
        merge=_decode_merge(spec["merge"]),
        day_column=spec.get("day_column"),
        newest_column=spec.get("newest_column"),
    )


def _decode_merge(merge: dict[str, Any]) -> Merge:
    rule = merge.get("rule")
    if rule == "group":
        return ReplaceGroup(tuple(merge["columns"]))
    if rule == "snapshot":
        return Snapshot(merge.get("scope_column"))
    if rule == "newest":
        return NewestWins()
    return FirstWins()
