"""Runs the report's queries on a read-only warehouse and says why a panel has no data.

A query whose tables are missing or empty is not run: its `Result` carries the
reason instead, and the page shows that sentence where the chart would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .queries import QUERIES, Query, Window, render

if TYPE_CHECKING:
    from sinks import Warehouse

__all__ = ["ReportData", "Result", "collect"]


@dataclass(frozen=True)
class Result:
    """One query's columns and rows, or why there are none (`empty_reason`)."""

    name: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    empty_reason: str | None = None
    table_missing: bool = False  # the reason is a table this warehouse does not have

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


@dataclass(frozen=True)
class ReportData:
    window: Window
    results: dict[str, Result]
    status: list[dict[str, Any]]  # `harvester status`'s rows: freshness per table


def _table_rows(warehouse: Warehouse) -> dict[str, int]:
    """Row count of every table the queries need that exists (names are our constants)."""
    _, rows = warehouse.query("select table_name from duckdb_tables()")
    needed = {"projects"} | {table for query in QUERIES.values() for table in query.needs}
    present = sorted(needed & {name for (name,) in rows})
    return {name: int(warehouse.query(f'select count(*) from "{name}"')[1][0][0]) for name in present}


def _why_empty(query: Query, present: dict[str, int]) -> str | None:
    for table in query.needs:
        if table not in present:
            return f"no data: the table {table} is not in this warehouse (its source has not been harvested)"
        if present[table] == 0:
            return f"no data: the table {table} is empty"
    return None


def _run(warehouse: Warehouse, query: Query, window: Window, present: dict[str, int]) -> Result:
    reason = _why_empty(query, present)
    if reason is not None:
        return Result(query.name, empty_reason=reason, table_missing=any(t not in present for t in query.needs))
    columns, rows = warehouse.query(render(query, window, have_projects=present.get("projects", 0) > 0))
    if not rows:
        return Result(query.name, columns, rows, empty_reason="no rows in this window")
    return Result(query.name, columns, rows)


def collect(warehouse: Warehouse, window: Window, now: datetime) -> ReportData:
    """Every query's result, and the status rows, from one read-only connection."""
    present = _table_rows(warehouse)
    results = {name: _run(warehouse, query, window, present) for name, query in QUERIES.items()}
    return ReportData(window, results, warehouse.status(now))
