"""Which tables the lake holds and how each is laid out: partitioning, Arrow schema, fingerprint.

Column types follow the warehouse: TIMESTAMPTZ as `timestamp[us, tz=UTC]`, JSON as
UTF-8 text (`string`), DOUBLE as `double`, BOOLEAN as `bool`, VARCHAR as `string`,
BIGINT as `int64`, DATE as `date32`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from .schema import REJECTS_COLUMNS, REJECTS_TABLE
from .tables import Table

__all__ = ["LakeTable", "lake_table", "lake_tables"]

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),  # JSON text; `lake_connection` casts it back to JSON
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
}


@dataclass(frozen=True)
class LakeTable:
    """How one warehouse table is laid out in the lake."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type), the warehouse's order
    key: tuple[str, ...]
    day_column: str | None  # partitioned by the UTC day of this column; None: one flat file set
    fingerprint: tuple[str, ...]  # columns whose hash tells a changed partition
    newest: str  # the column whose max is recorded as the partition's `newest`

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c, _ARROW_TYPES[t]) for c, t in self.columns])


def lake_table(table: Table) -> LakeTable:
    """How a warehouse table is laid out: by the UTC day of its `day_column`, else flat."""
    cols = tuple((c.name, c.sql_type) for c in table.columns)
    if table.is_snapshot or table.day_column is None:
        return LakeTable(table.name, cols, table.key, None, tuple(c for c, _ in cols), table.newest_column or "harvested_at")
    return LakeTable(table.name, cols, table.key, table.day_column, (*table.key, "harvested_at"), "harvested_at")


def lake_tables(tables: Iterable[Table]) -> dict[str, LakeTable]:
    """The lake layout of every data table, plus `_rejects`, by name."""
    layouts = {t.name: lake_table(t) for t in tables}
    layouts[REJECTS_TABLE] = LakeTable(
        REJECTS_TABLE, REJECTS_COLUMNS, ("id",), None, tuple(c for c, _ in REJECTS_COLUMNS), "rejected_at"
    )
    return layouts
