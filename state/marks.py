"""Small facts a source keeps between runs, in `_marks`: key → value.

For what the tables themselves cannot say: e.g. the `update_time` at which an
automation's revisions, schedule and triggers were last read completely. A mark
rides on the write that completes the work it records, in the same transaction, so
it is never ahead of the data. Sources read marks back with ordinary SQL.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

__all__ = ["MARKS_COLUMNS", "MARKS_TABLE", "set_marks"]

MARKS_TABLE = "_marks"
MARKS_COLUMNS: tuple[tuple[str, str], ...] = (("key", "VARCHAR"), ("value", "VARCHAR"), ("updated_at", "TIMESTAMPTZ"))


def set_marks(con: duckdb.DuckDBPyConnection, marks: Iterable[tuple[str, str]]) -> None:
    """Store each (key, value), replacing an older value; inside the caller's transaction."""
    for key, value in dict(marks).items():
        con.execute(f"DELETE FROM {MARKS_TABLE} WHERE key = $key", {"key": key})
        con.execute(f"INSERT INTO {MARKS_TABLE} VALUES ($key, $value, now())", {"key": key, "value": value})
