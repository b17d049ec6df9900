"""HTML assembly: one self-contained file, no script, no external font, image or style.

Every value from the warehouse goes through `html.escape` (emails, project names and
connector names are API data); charts are SVG text matplotlib wrote, whose text it
draws as paths and escapes in comments. Each chart is followed by its numbers in a
`<table class="data" data-query="...">`, so a reader (or a test) can check them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .data import Result

__all__ = ["Kpi", "Panel", "Section", "format_cell", "render_page"]


@dataclass(frozen=True)
class Panel:
    """A chart (or None: table only) and the result whose rows it shows."""

    title: str
    result: Result
    svg: str | None = None
    wide: bool = False
    when_empty: str | None = None  # replaces the default "no data" sentence


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Kpi:
    label: str
    result: Result
    column: str


def format_cell(value: Any) -> str:
    """How a value reads on the page (the tests parse numbers back from this)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2330;
 margin:0;background:#f4f5f8}
header{background:#1f2a48;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px} header p{margin:0;opacity:.85}
main{padding:8px 28px 40px;max-width:1240px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;margin:18px 0;padding:14px 18px}
h2{font-size:17px;margin:0 0 2px} .intro{color:#5a6072;margin:0 0 10px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:10px 22px}
.panel{min-width:0} .panel.wide{grid-column:1/-1}
.panel h3{font-size:13px;margin:8px 0 4px;color:#39405a}
svg{width:100%;height:auto;display:block}
.empty{color:#8a6d00;background:#fff8e1;border:1px solid #f3e3a6;border-radius:6px;padding:8px 10px;margin:4px 0}
table.data{border-collapse:collapse;font-size:12px;margin:4px 0 8px}
table.data th,table.data td{border-bottom:1px solid #eceef2;padding:3px 8px;text-align:left;white-space:nowrap}
table.data td.n{text-align:right;font-variant-numeric:tabular-nums}
details summary{cursor:pointer;color:#5a6072;font-size:12px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 0}
.kpi{background:#fff;color:#1f2330;border:1px solid #e1e4ea;border-radius:8px;padding:10px 16px;min-width:150px}
.kpi b{display:block;font-size:22px} .kpi span{color:#5a6072;font-size:12px}
"""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(result: Result) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in result.columns)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{format_cell(v)}</td>' if _is_number(v) else f"<td>{html.escape(format_cell(v))}</td>"
            for v in row
        ) + "</tr>"
        for row in result.rows
    )
    name = html.escape(result.name)
    return f'<table class="data" data-query="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _panel(panel: Panel) -> str:
    css = "panel wide" if panel.wide else "panel"
    title = f"<h3>{html.escape(panel.title)}</h3>"
    result = panel.result
    if result.empty_reason is not None:
        sentence = panel.when_empty if panel.when_empty and not result.table_missing else result.empty_reason
        return f'<div class="{css}">{title}<p class="empty" data-query="{html.escape(result.name)}">' \
               f"{html.escape(sentence)}</p></div>"
    if panel.svg is None:
        return f'<div class="{css}">{title}{_table(result)}</div>'
    data = f"<details><summary>numbers</summary>{_table(result)}</details>"
    return f'<div class="{css}">{title}<figure style="margin:0">{panel.svg}</figure>{data}</div>'


def _kpi(kpi: Kpi) -> str:
    result = kpi.result
    value = format_cell(result.column(kpi.column)[0]) if result.rows else "–"
    attrs = f'data-query="{html.escape(result.name)}" data-column="{html.escape(kpi.column)}"'
    return f'<div class="kpi" {attrs}><b>{html.escape(value)}</b><span>{html.escape(kpi.label)}</span></div>'


def render_page(title: str, subtitle: str, kpis: Sequence[Kpi], sections: Sequence[Section]) -> str:
    body = "".join(
        f"<section><h2>{html.escape(s.title)}</h2><p class=\"intro\">{html.escape(s.intro)}</p>"
        f'<div class="grid">{"".join(_panel(p) for p in s.panels)}</div></section>'
        for s in sections
    )
    cards = "".join(_kpi(k) for k in kpis)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no network, no script: the page asks for nothing, and says so to the browser
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>"
        f'<div class="kpis">{cards}</div></header><main>{body}</main></body></html>\n'
    )
