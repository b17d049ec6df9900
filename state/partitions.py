"""A partition and its checkpoint: the two values the state tables store.

A partition is one chain of pages (or one call): a stream, a half-open window
`[start, end)` and the scope ids it covers (a batch of projects, one workspace,
one grouping; empty for a stream-wide chain). Its `key` is derived from those
alone, so the same plan made twice yields the same keys and a killed run resumes
from the checkpoints stored under them. Sources build partitions; the state only
stores them, so nothing here knows any source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Checkpoint", "Partition", "wire_instant"]


def wire_instant(instant: datetime) -> str:
    """`2026-10-01T00:00:00.000Z`: milliseconds and `Z`, so it sorts as text as in time."""
    utc = instant.astimezone(UTC)
    # The year is padded by hand: strftime's %Y gives "999", not "0999", on glibc.
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Partition:
    """One unit of fetching: a chain of pages over one window for one set of scope ids."""

    stream: str
    start: datetime
    end: datetime
    scopes: tuple[str, ...] = ()
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = "|".join((self.stream, wire_instant(self.start), wire_instant(self.end), *self.scopes))
        object.__setattr__(self, "key", hashlib.sha256(text.encode()).hexdigest()[:24])

    def label(self) -> str:
        """Short human description for logs and errors."""
        who = ""
        if len(self.scopes) == 1:
            who = f" scope={self.scopes[0]}"
        elif self.scopes:
            who = f" scopes={len(self.scopes)}"
        return f"{self.stream} [{wire_instant(self.start)}, {wire_instant(self.end)}){who}"


@dataclass(frozen=True)
class Checkpoint:
    """Where a partition's chain stands after a committed page.

    `cursor` is the next page's cursor (or URL), `offset` the next offset or page
    number. `done` means the chain reached its end; nothing more to fetch. `pages`
    and `rows` say how far the chain got (informational: a page whose entries SQL
    types counts its entries, as the fetcher cannot know yet how many land).
    """

    partition_key: str
    cursor: str | None = None
    offset: int = 0
    done: bool = False
    pages: int = 0
    rows: int = 0
