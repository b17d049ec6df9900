"""What a source declares about each of its tables: columns, key, merge rule, lake day.

This is the whole contract between a source and the warehouse. The writer, the
lake, `status` and `sql` read these specs and nothing else, so a new source never
needs a special case in them: it picks one of the four merge rules below.

    FirstWins()              immutable entries (audit logs): the first stored copy stays
    NewestWins()             mutable entries (executions): the newest fetched copy replaces it
    ReplaceGroup(columns)    a reply covers a whole group (consumption of one project and
                             period): the newest reply's rows replace every row of the group
    Snapshot(scope_column)   current state re-read every run: rows carry `first_seen_at`,
                             `last_seen_at`, `removed_at`; a row missing from a complete read
                             of its scope (all rows with the same `scope_column` value, or the
                             whole table when None) is marked removed
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "HARVESTED",
    "RAW",
    "SEEN",
    "Column",
    "FirstWins",
    "Merge",
    "NewestWins",
    "ReplaceGroup",
    "Snapshot",
    "Table",
    "col",
    "merge_name",
]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str = "VARCHAR"  # a DuckDB type: VARCHAR, BIGINT, DOUBLE, BOOLEAN, TIMESTAMPTZ, JSON
    source: str | None = None  # the API field it comes from; None when the harvester fills it


def col(name: str, sql_type: str = "VARCHAR", source: str | None = None) -> Column:
    """Shorthand used by every source's table list."""
    return Column(name, sql_type, source)


@dataclass(frozen=True)
class FirstWins:
    """Immutable entries: a key already stored is never rewritten."""


@dataclass(frozen=True)
class NewestWins:
    """Mutable entries: the last fetched copy of a key replaces the stored one."""


@dataclass(frozen=True)
class ReplaceGroup:
    """One reply is the complete set of rows for `columns`' values: it replaces them."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """Current state. `scope_column` names what one complete read covers (None: the table)."""

    scope_column: str | None = None


Merge = FirstWins | NewestWins | ReplaceGroup | Snapshot

RAW = Column("raw", "JSON")
HARVESTED = Column("harvested_at", "TIMESTAMPTZ")
SEEN = (
    Column("first_seen_at", "TIMESTAMPTZ"),
    Column("last_seen_at", "TIMESTAMPTZ"),
    Column("removed_at", "TIMESTAMPTZ"),
)


@dataclass(frozen=True)
class Table:
    """A warehouse table. `key` names the columns that identify a row.

    `day_column` partitions the table by UTC day in the Parquet lake (None: one flat
    file set). `newest_column` is what `status` reports as the newest data.
    Writer-filled columns (`harvested_at`, or the three snapshot stamps) are appended
    by `Table.of`, so a source lists only what its rows carry.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    merge: Merge
    day_column: str | None = None
    newest_column: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        columns: Iterable[Column],
        key: tuple[str, ...],
        merge: Merge,
        *,
        day_column: str | None = None,
        newest_column: str | None = None,
        raw: bool = True,
    ) -> Table:
        """A table with `raw` (unless told otherwise) and the writer's columns added."""
        stamps = SEEN if isinstance(merge, Snapshot) else (HARVESTED,)
        cols = (*columns, *((RAW,) if raw else ()), *stamps)
        newest = newest_column or day_column or ("last_seen_at" if isinstance(merge, Snapshot) else "harvested_at")
        return cls(name, cols, key, merge, day_column, newest)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def is_snapshot(self) -> bool:
        return isinstance(self.merge, Snapshot)

    @property
    def scope_column(self) -> str | None:
        """What one complete snapshot read covers (None: the whole table, or not a snapshot)."""
        return self.merge.scope_column if isinstance(self.merge, Snapshot) else None


def merge_name(merge: Merge) -> str:
    """A one-word label for `status`: first, newest, group or snapshot."""
    return {FirstWins: "first", NewestWins: "newest", ReplaceGroup: "group", Snapshot: "snapshot"}[type(merge)]
