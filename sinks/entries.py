"""Entry pages typed by DuckDB from the replies' own bytes: the writer's fast path.

Why: turning each JSON entry into a Python row, then back into JSON for DuckDB,
cost the event loop ~9 µs a row and the writer as much again, all under one GIL.
Here a batch's replies go to a stage file untouched and one statement, running in
DuckDB's threads without the GIL, unpacks the entry lists, types the known fields
and keeps each entry's JSON as `raw` (about 3 µs a row).

SQL only vouches for plain entries, the ones the source's Python reading
(`harvester.records.RowBuilder`) would store unchanged: an object whose `id` is a
non-empty string, whose text fields are strings or null, booleans booleans or
null, numbers finite, timestamps ISO-8601 with a zone in the common spelling, and
required fields present. When one entry of a batch is anything else, `typed`
says so and the writer reads those pages with the source's own `fallback`
instead, which knows the id fallbacks and the reject reasons. So the two ways
land the same rows; a test holds them equal on random pages.

Known difference, out of contract for JSON: an object with a duplicated key keeps
both copies in `raw` here and its first value in the typed column (the Python
reading keeps the last only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .merge import day_numbers, instant_column
from .schema import input_columns, quote_ident
from .staging import object_size_for, sql_literal
from .tables import Column, FirstWins, Table
from .writes import EntryPage

__all__ = ["ENTRY_TABLE", "Shape", "Verdict", "page_counts_sql", "rows_sql", "shape_of", "stage_entries", "write_stage"]

ENTRY_TABLE = "_entries"  # a prefix: one temp table per table of a batch
# ISO-8601 as datetime.fromisoformat and DuckDB both read it, to the same instant.
_INSTANT = (
    r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_JSON_TYPES = {  # what json_type may say of a field for SQL to read it as Python would
    "VARCHAR": ("VARCHAR",),
    "BOOLEAN": ("BOOLEAN",),
    "DOUBLE": ("BIGINT", "UBIGINT", "DOUBLE"),
    "TIMESTAMPTZ": ("VARCHAR",),
    "JSON": None,  # anything
}


@dataclass(frozen=True)
class _Field:
    column: Column
    index: int  # 1-based, into the lists of types and values


@dataclass(frozen=True)
class Shape:
    """What typing a page depends on. Pages of tables of one shape (the six Abstra
    log tables share one) are typed by one statement: each statement costs
    milliseconds whatever its size, so one per table would cost more than the rows."""

    columns: tuple[Column, ...]  # the table's input columns, in order
    day_column: str | None
    path: tuple[str, ...]
    required: tuple[str, ...]


def shape_of(table: Table, page: EntryPage) -> Shape | None:
    """The page's shape, or None when SQL cannot type this table: only immutable rows
    keyed by `id`, every mapped column of a type the rules above cover."""
    mapped = [c for c in table.columns if c.source is not None]
    if not (
        isinstance(table.merge, FirstWins)
        and table.key == ("id",)
        and any(c.name == "id" for c in mapped)
        and all(c.sql_type in _JSON_TYPES for c in mapped)
    ):
        return None
    inputs = {name for name, _ in input_columns(table)}
    columns = tuple(c for c in table.columns if c.name in inputs)
    return Shape(columns, table.day_column, page.path, tuple(sorted(set(page.required))))


def write_stage(path: Path, pages: Sequence[tuple[int, EntryPage]]) -> int:
    """Write (table number, page) pairs as one JSON array of
    `{"p": index, "t": table number, "end": instant, "b": reply}`; return the size of
    the largest element (DuckDB sizes its read buffers by it). The replies are
    copied byte for byte: they were parsed once already."""
    longest = 0
    with open(path, "wb") as out:
        out.write(b"[")
        for index, (tab, page) in enumerate(pages):
            end = b"null" if page.end is None else b'"' + page.end.isoformat().encode() + b'"'
            head = b'%s{"p":%d,"t":%d,"end":%s,"b":' % (b"," if index else b"", index, tab, end)
            out.write(head)
            out.write(page.body)
            out.write(b"}\n")
            longest = max(longest, len(head) + len(page.body) + 2)
        out.write(b"]")
    return longest


@dataclass(frozen=True)
class Verdict:
    """What SQL made of a staged batch: the table numbers it vouched for entirely, and
    those holding a key twice (only they need the costlier deduplication), and the
    days each table's entries fall on (for the probe of stored keys)."""

    vouched: frozenset[int]
    repeated: frozenset[int]
    days: Mapping[int, tuple[int | None, ...]] = field(default_factory=dict)  # `merge.day_numbers` per table


def stage_entries(
    con: duckdb.DuckDBPyConnection, shape: Shape, stage: str, path: Path, longest: int, tables: int
) -> Verdict:
    """Load every entry of the staged pages (of table numbers 0..`tables`-1) into the
    temp table `stage`, typed as the shape's columns with a verdict `_ok` each. Only
    the rows of vouched tables may be merged from `stage` (see `rows_sql`)."""
    con.execute(_stage_sql(shape, stage, path, longest))
    day = instant_column(shape.columns, shape.day_column)
    days = f"list(DISTINCT {day_numbers(day)})" if day else "NULL"
    found = con.execute(
        f"SELECT _t, bool_and(_ok), count(*) > count(DISTINCT id), {days} FROM {stage} GROUP BY _t"
    ).fetchall()
    doubted = {int(t) for t, ok, _, _ in found if not ok}
    return Verdict(
        frozenset(range(tables)) - doubted,
        frozenset(int(t) for t, _, twice, _ in found if twice),
        {int(t): tuple(d) for t, _, _, d in found if d is not None},
    )


def rows_sql(shape: Shape, stage: str, tab: int, *, repeated: bool) -> str:
    """The rows of table number `tab` to merge: those inside their window and, when a
    key is `repeated`, its first copy in page order (what `dedupe_rows` keeps). The
    window that picks it costs more than the rest of the statement, hence the flag."""
    cols = ", ".join(quote_ident(c.name) for c in shape.columns)
    first = " QUALIFY row_number() OVER (PARTITION BY id ORDER BY _p, _i) = 1" if repeated else ""
    return f"SELECT {cols} FROM {stage} WHERE _t = {int(tab)} AND {_in_window(shape)}{first}"


def page_counts_sql(shape: Shape, stage: str, tab: int) -> str:
    """(page index, rows inside its window) of table number `tab`, for every page with
    such rows, as the Python path counts a page's rows (before deduplication)."""
    return f"SELECT _p, count(*) FROM {stage} WHERE _t = {int(tab)} AND {_in_window(shape)} GROUP BY _p"


def _in_window(shape: Shape) -> str:
    """Rows stamped exactly at their window's end belong to the next window."""
    return f"{quote_ident(shape.day_column)} IS DISTINCT FROM _end" if shape.day_column else "true"


def _stage_sql(shape: Shape, stage: str, path: Path, longest: int) -> str:
    sources: list[str] = []
    fields = []
    for column in shape.columns:
        if column.source is not None:
            sources.append(column.source)
            fields.append(_Field(column, len(sources)))
    sources += [name for name in shape.required if name not in sources]
    entry_list = "b" + "".join(f".{quote_ident(k)}" for k in shape.path)
    body_type = "JSON[]"
    for key in reversed(shape.path):
        body_type = f"STRUCT({quote_ident(key)} {body_type})"
    json_paths = "[" + ", ".join(sql_literal("$." + quote_ident(s)) for s in sources) + "]"
    values = {f.column.name: _value(f) for f in fields}
    columns = ", ".join(
        f"{values.get(c.name, 'e' if c.name == 'raw' else 'NULL')}::{c.sql_type} AS {quote_ident(c.name)}"
        for c in shape.columns
    )
    present = [f"coalesce(_types[{sources.index(name) + 1}], 'NULL') <> 'NULL'" for name in shape.required]
    checks = " AND ".join(["json_type(e) = 'OBJECT'", *(_check(f) for f in fields), *present])
    read = (
        f"read_json({sql_literal(str(path))}, "
        f"columns={{p: 'INTEGER', t: 'INTEGER', \"end\": 'TIMESTAMPTZ', b: {sql_literal(body_type)}}}, "
        f"format='array', maximum_object_size={object_size_for(longest)})"
    )
    return (
        f"CREATE OR REPLACE TEMP TABLE {stage} AS "
        f"SELECT {columns}, coalesce({checks}, false) AS _ok, _end, _p, _t, _i FROM ("
        f"SELECT e, _p, _t, _end, _i, json_type(e, {json_paths}) AS _types, json_extract_string(e, {json_paths}) AS _values FROM ("
        f"SELECT p AS _p, t AS _t, \"end\" AS _end, unnest({entry_list}) AS e, generate_subscripts({entry_list}, 1) AS _i "
        f"FROM {read}))"
    )


def _value(field: _Field) -> str:
    k, column = field.index, field.column
    match column.sql_type:
        case "TIMESTAMPTZ":
            return f"TRY_CAST(_values[{k}] AS TIMESTAMPTZ)"
        case "BOOLEAN" | "DOUBLE":
            return f"TRY_CAST(_values[{k}] AS {column.sql_type})"
        case "JSON":
            return f"CASE WHEN coalesce(_types[{k}], 'NULL') = 'NULL' THEN NULL ELSE json_extract(e, {sql_literal('$.' + quote_ident(column.source or ''))}) END"
        case _:
            return f"_values[{k}]"


def _check(field: _Field) -> str:
    """SQL true when the field reads here exactly as the Python builder reads it."""
    k, column = field.index, field.column
    if column.name == "id":
        return f"(_types[{k}] = 'VARCHAR' AND _values[{k}] <> '')"
    allowed = _JSON_TYPES[column.sql_type]
    if allowed is None:
        return "true"
    kinds = ", ".join(sql_literal(a) for a in (*allowed, "NULL"))
    check = f"coalesce(_types[{k}], 'NULL') IN ({kinds})"
    if column.sql_type == "TIMESTAMPTZ":
        check += f" AND (_values[{k}] IS NULL OR (regexp_full_match(_values[{k}], {sql_literal(_INSTANT)}) AND {_value(field)} IS NOT NULL))"
    elif column.sql_type == "DOUBLE":
        check += f" AND (_values[{k}] IS NULL OR isfinite({_value(field)}))"
    return f"({check})"
