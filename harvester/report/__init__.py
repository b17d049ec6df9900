"""`harvester report`: one self-contained HTML page of charts over the warehouse.

Split by job: `queries` holds every SQL statement, `data` runs them read-only and
says why a panel is empty, `charts` draws SVG with matplotlib, `layout` decides which
query feeds which chart, `page` assembles the HTML. Importing this package imports
matplotlib, so only the `report` command does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..timeutil import floor_day, utc_now
from .data import ReportData, Result, collect
from .layout import kpis, sections
from .page import format_cell, render_page
from .queries import QUERIES, Query, Window, render

__all__ = [
    "QUERIES",
    "Query",
    "ReportData",
    "ReportSummary",
    "Result",
    "Window",
    "format_cell",
    "render",
    "report_window",
    "write_report",
]


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    window: Window
    panels: int
    charts: int
    empty: list[str]  # titles of the panels without data


def report_window(days: int, now: datetime) -> Window:
    """The last `days` UTC days, today included (so today's partial day shows)."""
    return Window(floor_day(now) - timedelta(days=days - 1), now)


def write_report(warehouse_path: Path, out: Path, *, days: int = 30, now: datetime | None = None) -> ReportSummary:
    """Query the warehouse (read-only) and write the page to `out`."""
    from sinks import Warehouse

    now = now or utc_now()
    window = report_window(days, now)
    with Warehouse.open_read_only(warehouse_path) as warehouse:
        data = collect(warehouse, window, now)
    parts = sections(data)
    subtitle = (f"{window.start:%Y-%m-%d} to {window.end:%Y-%m-%d %H:%M} UTC ({days} days) · "
                f"warehouse {warehouse_path.name} · generated {now:%Y-%m-%d %H:%M} UTC")
    text = render_page("Abstra organization report", subtitle, kpis(data), parts)
    out.write_text(text, encoding="utf-8")
    panels = [p for s in parts for p in s.panels]
    return ReportSummary(out, window, len(panels), sum(p.svg is not None for p in panels),
                         [p.title for p in panels if p.result.empty_reason is not None])
