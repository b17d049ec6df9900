"""What fetchers hand the writer: a page's rows, its rejects and the checkpoint after it.

These are plain values. The writer commits one `PageWrite` (or several, coalesced)
in a single transaction, so a page's rows and the cursor that follows them land
together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from state.partitions import Checkpoint, Partition

__all__ = ["EntryPage", "Landed", "PageWrite", "Reject", "Row", "SnapshotWrite"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Reject:
    """An entry that failed validation. `raw` is its JSON text (or repr when not JSON)."""

    stream: str
    reason: str
    raw: str
    partition_key: str = ""


@dataclass(frozen=True)
class EntryPage:
    """A page of API entries still as the reply's bytes, for the writer to type in SQL.

    `body` is the whole reply (strict JSON: it parsed with orjson), `path` the keys
    leading to the entry list (`("data", "entries")`), `count` how many entries it
    holds, `required` the entry fields that must be present, `end` the window end:
    an entry whose `day_column` is exactly `end` belongs to the next window and is
    dropped. `fallback` is the source's own reading of the same page (rows and
    rejects); the writer calls it for any page whose entries SQL does not vouch for
    (see `sinks.entries`), so both ways land the same rows.
    """

    body: bytes
    path: tuple[str, ...]
    count: int
    fallback: Callable[[], tuple[list[Row], list[Reject]]]
    required: tuple[str, ...] = ()
    end: datetime | None = None


@dataclass
class PageWrite:
    """One fetched page, merged into `table` by the table's rule.

    `rows` are dicts keyed by the table's column names; timestamps are aware UTC
    `datetime`s or wire strings, JSON columns hold Python values (dict/list/...),
    `harvested_at` is filled by the writer. A page of a windowed chain carries its
    `partition` and the `checkpoint` after it (they commit together); a page of a
    stream read whole every run (a revision list, a log endpoint with no paging)
    carries neither. A page may instead carry `entries` (its reply's bytes, see
    `EntryPage`) and no rows: the writer builds the rows.
    """

    partition: Partition | None
    table: str
    rows: list[Row]
    checkpoint: Checkpoint | None
    rejects: list[Reject] = field(default_factory=list)
    entries: EntryPage | None = None

    @property
    def size(self) -> int:
        """Rows this page brings (entries not typed yet counted as rows), for batching."""
        return self.entries.count if self.entries is not None else len(self.rows)

    def built(self) -> PageWrite:
        """This page with its entries read by the source's own builder (`fallback`)."""
        if self.entries is None:
            return self
        rows, rejects = self.entries.fallback()
        return PageWrite(self.partition, self.table, rows, self.checkpoint, [*self.rejects, *rejects])

    @property
    def stream(self) -> str:
        return self.partition.stream if self.partition is not None else self.table


@dataclass(frozen=True)
class Landed:
    """What one committed page brought: rows (inside its window, before the batch's
    deduplication), rejects, and whether SQL typed its entries (`EntryPage`)."""

    rows: int
    rejects: int
    typed: bool = False


@dataclass
class SnapshotWrite:
    """The complete current rows of one snapshot table for one scope.

    `scope` is "" when the write covers the whole table, else the value of the table's
    `Snapshot.scope_column` that this complete read covers (a project id, a
    workspace id, an automation id). Rows of that scope missing from `rows` are
    marked removed; rows present get `last_seen_at = seen_at` (and `removed_at`
    cleared if they came back).
    """

    table: str
    scope: str
    rows: list[Row]
    seen_at: datetime
    rejects: list[Reject] = field(default_factory=list)
    marks: tuple[tuple[str, str], ...] = ()  # (key, value) a source stores with this write (`_marks`)

    @property
    def stream(self) -> str:
        return self.table
