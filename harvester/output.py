"""What the CLI prints on stdout: query results, status, the run summary.

Kept apart from the commands so the formats are tested once and shared by `sql`,
`status` and `demo`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from .timeutil import format_wire

if TYPE_CHECKING:  # only for the annotation: printing a table must not load the runner
    from .runner import RunReport

__all__ = ["format_table", "print_report", "print_rows", "print_status"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_wire(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """A plain aligned text table; long cells are cut with an ellipsis."""
    cells = [[_cell(v) for v in row] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in rows)
    elif fmt == "json":
        for row in rows:
            out.write(orjson.dumps(dict(zip(columns, row, strict=True)), default=_cell).decode() + "\n")
    else:
        out.write(format_table(columns, rows) + "\n")


def print_status(status: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    if not status:
        (out or sys.stdout).write("nothing harvested yet\n")
        return
    columns = list(status[0])
    print_rows(columns, [[s.get(c) for c in columns] for s in status], "table", out)


def print_report(report: RunReport, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    stats = report.stats()["streams"]
    rows = [[s, v["rows"], v["pages"], v["rejects"], v["errors"]] for s, v in stats.items()]
    out.write(f"run {report.run_id}: {report.status}, {report.requests} requests\n")
    out.write(format_table(["stream", "rows", "pages", "rejects", "errors"], rows) + "\n")
    for failure in report.failures[:20]:
        out.write(f"failed: {failure}\n")
