"""Charts as inline SVG, drawn by matplotlib from query results.

SVG rather than PNG: sharp at any zoom, and the page needs no script, font or image
from anywhere. Text is drawn as paths, so the charts look the same whatever fonts
the viewer has. Each chart is a `Figure` of its own (no pyplot, so no global figure
state), and each gets its own `svg.hashsalt` so the ids of two charts inlined in one
page never collide.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

import matplotlib
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .data import Result

__all__ = ["Series", "daily_bars", "hbars", "metric_grid"]

Series = tuple[str, str, str]  # (column, colour, legend label)

_STYLE = {
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.axisbelow": True,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
_BAR = "#3f51b5"


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an `<svg>` element (no XML prolog or DOCTYPE: it is inlined)."""
    out = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": salt}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def _thousands(ax: Any, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:g}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _date_axis(ax: Any) -> None:
    locator = AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def daily_bars(result: Result, series: Sequence[Series], span: tuple[date, date], *, width: float = 9.5) -> str:
    """Stacked bars per day, one segment per series, over every day of `span` (inclusive)."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(width, 2.8)
        ax = fig.add_subplot()
        days: list[date] = result.column("day")
        bottom = [0.0] * len(days)
        for column, colour, label in series:
            values = [float(v or 0) for v in result.column(column)]
            ax.bar(days, values, bottom=bottom, color=colour, label=label, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        _date_axis(ax)
        _thousands(ax)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", bbox_to_anchor=(0, 1.14), frameon=False, ncols=len(series), fontsize=8)
        ax.set_xlim(date2num(span[0]) - 0.6, date2num(span[1]) + 0.6)
        return _svg(fig, result.name)


def hbars(result: Result, label: str, value: str, *, colour: str = _BAR, unit: str = "") -> str:
    """Horizontal bars, largest on top, each labelled with its value."""
    with matplotlib.rc_context(_STYLE):
        labels = [str(v) for v in result.column(label)][::-1]
        values = [float(v or 0) for v in result.column(value)][::-1]
        fig = _figure(4.7, 0.6 + 0.24 * max(3, len(labels)))
        ax = fig.add_subplot()
        bars = ax.barh(labels, values, color=colour, height=0.7)
        ax.bar_label(bars, labels=[f"{v:,.1f}{unit}" if unit else f"{v:,.0f}" for v in values],
                     padding=3, fontsize=8)
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.15)
        _thousands(ax, "x")
        ax.tick_params(axis="y", labelsize=8)
        return _svg(fig, result.name)


def metric_grid(result: Result) -> str:
    """One small line chart per metric (long rows: day, metric, value)."""
    by_metric: dict[str, tuple[list[date], list[float]]] = {}
    for day, metric, value in result.rows:
        days, values = by_metric.setdefault(str(metric), ([], []))
        days.append(day)
        values.append(float(value))
    columns = 3
    rows = -(-len(by_metric) // columns)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(9.5, 1.9 * rows)
        for i, (metric, (days, values)) in enumerate(sorted(by_metric.items())):
            ax = fig.add_subplot(rows, columns, i + 1)
            ax.plot(days, values, color=_BAR, linewidth=1.4)
            ax.fill_between(days, values, color=_BAR, alpha=0.08)
            ax.set_title(metric, loc="left", fontsize=9)
            _date_axis(ax)
            _thousands(ax)
            ax.tick_params(labelsize=7)
        return _svg(fig, result.name)
