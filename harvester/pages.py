"""What fetchers hand the writer: a page's rows, its rejects and the checkpoint after it.

These are plain values. The writer commits one `PageWrite` (or several, coalesced)
in a single transaction, so a page's rows and the cursor that follows them land
together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .planner import Partition

__all__ = ["Checkpoint", "PageWrite", "Reject", "SnapshotWrite"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """Where a partition's chain stands after a committed page.

    `cursor` is the next page's cursor (log chains), `offset` the next offset
    (executions). `done` means the chain reached its end; nothing more to fetch.
    """

    partition_key: str
    cursor: str | None = None
    offset: int = 0
    done: bool = False
    pages: int = 0
    rows: int = 0


@dataclass(frozen=True)
class Reject:
    """An entry that failed validation. `raw` is its JSON text (or repr when not JSON)."""

    stream: str
    reason: str
    raw: str
    partition_key: str = ""


@dataclass
class PageWrite:
    """One fetched page of a windowed stream.

    `rows` are dicts keyed by the table's column names; timestamps are aware UTC
    `datetime`s or wire strings, JSON columns hold Python values (dict/list/...),
    `harvested_at` is filled by the writer.
    """

    partition: Partition
    table: str
    rows: list[Row]
    checkpoint: Checkpoint
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class SnapshotWrite:
    """The complete current rows of one snapshot table for one scope.

    `scope` is "" for organization-wide tables (members, folders, projects) and the
    project id for per-project inventory. Rows of that scope missing from `rows` are
    marked removed; rows present get `last_seen_at = seen_at` (and `removed_at`
    cleared if they came back).
    """

    table: str
    scope: str
    rows: list[Row]
    seen_at: datetime
    rejects: list[Reject] = field(default_factory=list)
