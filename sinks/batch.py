"""Deduplicating a coalesced batch in Python before it reaches DuckDB.

Why here and not in SQL: the batch is small (a few thousand rows), keys are cheap
to read from the row dicts, and a stage that is already unique keeps every merge
statement a plain join. Each table kind has its own rule for which copy wins.
Key values must be present: a NULL key would never match its earlier copy, so
the row would be duplicated on every re-fetch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from state.errors import SinkError

from .tables import FirstWins, ReplaceGroup, Table
from .writes import Reject

__all__ = ["dedupe_rows", "reject_id", "reject_rows"]

Row = dict[str, Any]


def dedupe_rows(table: Table, batches: Iterable[Sequence[Row]]) -> list[Row]:
    """One row per key, chosen by the table's merge rule, from batches in arrival order.

    FirstWins: the first copy wins. NewestWins and Snapshot: the last copy wins.
    ReplaceGroup: for each group the rows of the last batch that has it (then the
    last copy per key).
    """
    match table.merge:
        case FirstWins():
            return _first_per_key(table, batches)
        case ReplaceGroup(columns):
            return _last_group(table, columns, batches)
        case _:
            return _last_per_key(table, batches)


def _key_reader(table: Table, columns: Sequence[str]) -> Callable[[Row], Hashable]:
    """A function row -> hashable key, rejecting NULLs and normalising timestamps."""
    instants = {c.name for c in table.columns if c.sql_type == "TIMESTAMPTZ"} & set(columns)

    def value(row: Row, name: str) -> Hashable:
        found = row.get(name)
        if found is None:
            raise SinkError(f"a row for table {table.name} has no {name}: key columns cannot be null")
        return _instant(found, table.name, name) if name in instants else found

    if len(columns) == 1 and not instants:
        (only,) = columns
        return lambda row: value(row, only)
    return lambda row: tuple(value(row, name) for name in columns)


def _first_per_key(table: Table, batches: Iterable[Sequence[Row]]) -> list[Row]:
    rows = [row for batch in batches for row in batch]
    if len(table.key) == 1 and _unique_present(rows, table.key[0]):
        return rows  # the common case: no copies in the batch, nothing to choose
    key = _key_reader(table, table.key)
    seen: set[Hashable] = set()
    kept = []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            kept.append(row)
    return kept


def _unique_present(rows: Sequence[Row], column: str) -> bool:
    """Fast path: every row has a non-null, hashable, distinct value in `column`."""
    try:
        values = {row.get(column) for row in rows}
    except TypeError:  # an unhashable key value; let the slow path report it
        return False
    return len(values) == len(rows) and None not in values


def _last_per_key(table: Table, batches: Iterable[Sequence[Row]]) -> list[Row]:
    key = _key_reader(table, table.key)
    latest: dict[Hashable, Row] = {}
    for rows in batches:
        for row in rows:
            latest[key(row)] = row
    return list(latest.values())


def _last_group(table: Table, group: Sequence[str], batches: Iterable[Sequence[Row]]) -> list[Row]:
    group_of = _key_reader(table, group)
    key = _key_reader(table, table.key)
    groups: dict[Hashable, dict[Hashable, Row]] = {}
    for rows in batches:
        fresh: set[Hashable] = set()
        for row in rows:
            g = group_of(row)
            if g not in fresh:  # this batch replaces whatever earlier batches had
                fresh.add(g)
                groups[g] = {}
            groups[g][key(row)] = row
    return [row for members in groups.values() for row in members.values()]


def _instant(value: Any, table: str, column: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _instant(datetime.fromisoformat(value), table, column)
        except ValueError:
            pass
    raise SinkError(f"{table}.{column} is not a timestamp: {str(value)[:64]!r}")


def reject_id(stream: str, raw: str) -> str:
    """Stable id of a rejected entry, so seeing the same bad entry again adds nothing."""
    return hashlib.sha256(f"{stream}\n{raw}".encode("utf-8", "surrogatepass")).hexdigest()


def reject_rows(rejects: Iterable[Reject], default_partition: str = "") -> list[Row]:
    """Rows for `_rejects`, first copy per id; `rejected_at` is filled by the writer."""
    rows: dict[str, Row] = {}
    for r in rejects:
        rid = reject_id(r.stream, r.raw)
        if rid not in rows:
            rows[rid] = {
                "id": rid,
                "stream": r.stream,
                "partition_key": r.partition_key or default_partition,
                "reason": _valid_text(r.reason),
                "raw": _valid_text(r.raw),
            }
    return list(rows.values())


def _valid_text(text: str) -> str:
    """Text JSON can carry: a reject must never fail the commit it rides in."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
