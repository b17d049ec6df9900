"""Paging as state: what the next request asks for, and whether there is one.

No I/O here. A fetcher asks `params()` for the next request, feeds the reply to
`advance()`, and stops when `done`. The guards that stop a misbehaving API from
spinning a harvest forever (a cursor that repeats, an offset chain that never reaches
`totalCount`) live here, where they can be tested exhaustively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from state.checkpoints import MAX_CURSOR_CHARS

from .errors import PagingError

__all__ = ["CursorPaging", "OffsetPaging"]


@dataclass
class CursorPaging:
    """A log chain: `cursor` is None for the first page, then the last `nextCursor`.

    The chain ends on a missing/null `nextCursor`. Two server hiccups are absorbed
    rather than trusted, each at most `max_retries` times in a row, so the cost is a
    few extra requests and never a lost page:

    - a reply whose `nextCursor` is the cursor just sent (the chain did not move) is
      asked again; if it never moves, an empty page ends the chain and a non-empty one
      is a loop (PagingError);
    - an empty page with a new cursor is followed (API_NOTES says an empty page ends
      paging, but stopping there could drop the rest of the window).

    A cursor that comes back after others (A, B, A) is a loop: PagingError, or the end
    of the chain if that page was empty. A cursor longer than `MAX_CURSOR_CHARS` is a
    PagingError before it is ever stored or sent back.
    """

    cursor: str | None = None
    pages: int = 0
    done: bool = False
    max_retries: int = 5
    _stalls: int = 0
    _empty: int = 0
    _seen: set[str] = field(default_factory=set, repr=False)

    def params(self) -> dict[str, str]:
        return {"cursor": self.cursor} if self.cursor else {}

    def advance(self, entries: int, next_cursor: object) -> None:
        self.pages += 1
        if next_cursor is None or next_cursor == "":
            self._finish()
            return
        if not isinstance(next_cursor, str):
            raise PagingError(f"nextCursor is {type(next_cursor).__name__}, expected a string")
        if len(next_cursor) > MAX_CURSOR_CHARS:
            raise PagingError(f"nextCursor is {len(next_cursor)} characters, over the limit of {MAX_CURSOR_CHARS}")
        if next_cursor == self.cursor:
            self._stalls += 1
            if self._stalls >= self.max_retries:
                self._end_or_loop(entries, "keeps returning the cursor it was given")
            return
        self._stalls = 0
        if next_cursor in self._seen:
            self._end_or_loop(entries, "returned a cursor already used")
            return
        self._empty = self._empty + 1 if entries == 0 else 0
        if self._empty >= self.max_retries:
            self._finish()
            return
        if self.cursor:
            self._seen.add(self.cursor)
        self.cursor = next_cursor

    def _end_or_loop(self, entries: int, what: str) -> None:
        if entries:
            raise PagingError(f"cursor loop: the API {what} (page {self.pages})")
        self._finish()

    def _finish(self) -> None:
        self.cursor, self.done = None, True


@dataclass
class OffsetPaging:
    """An executions chain: newest first, `limit`/`offset`, ends at `totalCount`.

    `totalCount` may move while we page (new executions arrive, or the count lags), so
    it is not trusted alone: the chain ends on an empty page, or once `offset` reaches
    the latest `totalCount` with a short page. A full page that reaches `totalCount`
    costs one more request, because a count reported too low must not end the chain
    early and drop executions. A chain that takes far more
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
        if items == 0 or (self.offset >= total_count and items < self.limit):
            self.done = True
            return
        average_page = self.offset / self.pages  # the server may cap pages below `limit`
        budget = 2 * math.ceil(self._first_total / average_page) + 10
        if self.pages > budget:
            raise PagingError(
                f"offset chain ran {self.pages} pages without reaching totalCount {total_count}"
            )
