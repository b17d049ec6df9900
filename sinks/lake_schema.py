"""Which tables the lake holds and how each is laid out: partitioning, Arrow schema, fingerprint.

Column types follow the warehouse: TIMESTAMPTZ as `timestamp[us, tz=UTC]`, JSON as
UTF-8 text (`string`), DOUBLE as `double`, BOOLEAN as `bool`, VARCHAR as `string`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from harvester.errors import ConfigError
from harvester.streams import TABLES, Kind

from .schema import REJECTS_COLUMNS, REJECTS_TABLE

__all__ = ["LAKE_TABLES", "LakeTable", "lake_table"]

LAKE_TABLES: tuple[str, ...] = (*TABLES, REJECTS_TABLE)

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),  # JSON text; `lake_connection` casts it back to JSON
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
_DAY_COLUMN = {Kind.LOG: "created_at", Kind.EXECUTIONS: "created_at", Kind.CONSUMPTION: "period_start"}


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


def lake_table(name: str) -> LakeTable:
    """The layout of `name` (a registry table or `_rejects`); ConfigError for anything else."""
    if name == REJECTS_TABLE:
        cols = REJECTS_COLUMNS
        return LakeTable(name, cols, ("id",), None, tuple(c for c, _ in cols), "rejected_at")
    table = TABLES.get(name)
    if table is None:
        raise ConfigError(f"unknown table {name!r}: choose from {', '.join(LAKE_TABLES)}")
    cols = tuple((c.name, c.sql_type) for c in table.columns)
    if table.kind is Kind.SNAPSHOT:
        return LakeTable(name, cols, table.key, None, tuple(c for c, _ in cols), "last_seen_at")
    return LakeTable(name, cols, table.key, _DAY_COLUMN[table.kind], (*table.key, "harvested_at"), "harvested_at")
