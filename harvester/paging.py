"""Paging as state: what the next request asks for, and whether there is one.

No I/O here. A fetcher asks `params()` for the next request, feeds the reply to
`advance()`, and stops when `done`. The guards that stop a misbehaving API from
spinning a harvest forever (a cursor that repeats, an offset chain that never reaches
`totalCount`) live here, where they can be tested exhaustively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import PagingError

__all__ = ["CursorPaging", "OffsetPaging"]


@dataclass
class CursorPaging:
    """A log chain: `cursor` is None for the first page, then the last `nextCursor`.

    The chain ends on a missing/null `nextCursor`. API_NOTES says an empty page ends it
    too, but stopping on an empty page that still carries a cursor can drop the rest
    of the window (a server hiccup mid-chain), so such a page is followed (or, when the
    cursor did not move, asked again) up to `max_empty` times in a row, then the chain
    ends: at most a couple of extra requests, never a lost page. A non-empty page
    whose cursor was used before is a loop: raised as PagingError, never followed.
    """

    cursor: str | None = None
    pages: int = 0
    done: bool = False
    max_empty: int = 3
    _empty: int = 0
    _seen: set[str] = field(default_factory=set, repr=False)

    def params(self) -> dict[str, str]:
        return {"cursor": self.cursor} if self.cursor else {}

    def advance(self, entries: int, next_cursor: object) -> None:
        self.pages += 1
        if next_cursor is None or next_cursor == "":
            self.cursor, self.done = None, True
            return
        if not isinstance(next_cursor, str):
            raise PagingError(f"nextCursor is {type(next_cursor).__name__}, expected a string")
        if entries == 0:
            self._empty += 1
            if self._empty >= self.max_empty or next_cursor in self._seen:
                self.cursor, self.done = None, True
            elif next_cursor != self.cursor:
                self._remember_and_move(next_cursor)
            return
        self._empty = 0
        if next_cursor == self.cursor or next_cursor in self._seen:
            raise PagingError(f"cursor loop: the API returned a cursor already used on page {self.pages}")
        self._remember_and_move(next_cursor)

    def _remember_and_move(self, next_cursor: str) -> None:
        if self.cursor:
            self._seen.add(self.cursor)
        self.cursor = next_cursor


@dataclass
class OffsetPaging:
    """An executions chain: newest first, `limit`/`offset`, ends at `totalCount`.

    `totalCount` may move while we page (new executions arrive), so the latest value
    is used to end the chain; an empty page also ends it. A chain that takes far more
    pages than the first `totalCount` could need is stopped as runaway: measuring
    against the largest `totalCount` instead would let a count that grows as fast as
    we page run forever.
    """

    limit: int
    offset: int = 0
    pages: int = 0
    done: bool = False
    _first_total: int | None = None

    def params(self) -> dict[str, int]:
        return {"limit": self.limit, "offset": self.offset}

    def advance(self, items: int, total_count: object) -> None:
        if isinstance(total_count, bool) or not isinstance(total_count, int) or total_count < 0:
            raise PagingError(f"totalCount is {total_count!r}, expected a non-negative integer")
        self.pages += 1
        self.offset += items
        if self._first_total is None:
            self._first_total = total_count
        if items == 0 or self.offset >= total_count:
            self.done = True
            return
        average_page = self.offset / self.pages  # the server may cap pages below `limit`
        budget = 2 * math.ceil(self._first_total / average_page) + 10
        if self.pages > budget:
            raise PagingError(
                f"offset chain ran {self.pages} pages without reaching totalCount {total_count}"
            )
