"""Reading the numbers back out of a report page (its data tables and headline cards)."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["PageData", "parse_page"]


class PageData(HTMLParser):
    """`tables[query] = [header, *rows]` (cell text), `kpis[(query, column)] = text`,
    `empty[query] = sentence` for panels without data."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.kpis: dict[tuple[str, str], str] = {}
        self.empty: dict[str, str] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._kpi: tuple[str, str] | None = None
        self._empty: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-query"):
            self._table = a["data-query"]
            self.tables[self._table] = []  # a result shown twice (chart numbers, table) has one entry
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "div" and a.get("class") == "kpi":
            self._kpi = (a["data-query"] or "", a["data-column"] or "")
            self._text = []
        elif tag == "p" and a.get("class") == "empty":
            self._empty = a["data-query"]
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "b" and self._kpi is not None:
            self.kpis[self._kpi] = "".join(self._text)
            self._kpi = None
        elif tag == "p" and self._empty is not None:
            self.empty[self._empty] = "".join(self._text)
            self._empty = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._kpi is not None or self._empty is not None:
            self._text.append(data)


def parse_page(text: str) -> PageData:
    parser = PageData()
    parser.feed(text)
    return parser
