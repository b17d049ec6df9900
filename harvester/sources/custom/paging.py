"""Paging of a custom stream as pure state: one class per `paging.kind`.

The fetch loop lives elsewhere and is the same for every kind:

    paging = paging_for(stream, checkpoint, page_size)
    while not paging.done:
        reply = call(build_parameters(stream, paging.params(), window))
        records = page_records(reply, stream.records)
        paging.advance(len(records), reply)
        store(rows, paging.checkpoint())

`checkpoint()` is `(cursor or next URL, page number or offset)`, the pair the state
stores after each page, and `paging_for` resumes from it. An upstream we do not
control decides where each chain goes, so the guards are here, where they are
tested without a network: a cursor or URL that comes back is a loop, a cursor or URL
longer than 4096 characters is refused, a `next_url` must pass the SSRF rule and stay
on the stream's host, and a numbered or offset page that repeats the previous page
exactly means the upstream ignores the paging parameter (a misspelled `param` would
otherwise read page 1 forever). Each is a PagingError whose one line fails the
partition.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...errors import PagingError
from ...records import content_id
from .config import CursorSpec, CustomStream, NextUrlSpec, OffsetSpec, PageSpec
from .records import MISSING, dig
from .ssrf import SsrfError, check_url

__all__ = [
    "MAX_TOKEN",
    "CursorChain",
    "NextUrlChain",
    "OffsetChain",
    "PageNumbers",
    "Paging",
    "SinglePage",
    "paging_for",
]

MAX_TOKEN = 4096  # longest cursor or next URL followed: a reply cannot grow our requests without bound
_MAX_EMPTY = 5  # empty pages in a row, each with a new cursor, that end a cursor chain


class Paging(Protocol):
    done: bool

    def params(self) -> dict[str, Any]: ...
    def advance(self, records: int, reply: Any) -> None: ...
    def checkpoint(self) -> tuple[str | None, int]: ...


def paging_for(stream: CustomStream, checkpoint: tuple[str | None, int] | None, page_size: int) -> Paging:
    """The paging state of `stream`, fresh or resumed from a stored checkpoint."""
    token, number = checkpoint if checkpoint is not None else (None, None)
    spec = stream.paging
    if isinstance(spec, CursorSpec):
        return CursorChain(spec, cursor=token, pages=number or 0)
    if isinstance(spec, PageSpec):
        return PageNumbers(spec, page_size, stream.records, page=spec.start if number is None else number)
    if isinstance(spec, OffsetSpec):
        return OffsetChain(spec, page_size, stream.records, offset=number or 0)
    if isinstance(spec, NextUrlSpec):
        chain = NextUrlChain(spec, stream.url, pages=number or 0)
        if token is not None:
            chain.url = chain.checked(token)
        return chain
    return SinglePage()


class SinglePage:
    """`none`: the first reply is the whole stream."""

    def __init__(self) -> None:
        self.done = False

    def params(self) -> dict[str, Any]:
        return {}

    def advance(self, records: int, reply: Any) -> None:
        self.done = True

    def checkpoint(self) -> tuple[str | None, int]:
        return None, 0


class _Tokens:
    """What cursor and next-URL chains share: the tokens already followed."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.done = False
        self._seen: set[str] = set()

    def _token(self, reply: Any, path: str, current: str | None, what: str) -> str | None:
        """The next cursor/URL at `path`, checked; None when the chain ends there."""
        value = dig(reply, path)
        if value is MISSING or value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise PagingError(f"{what} at {path!r} is {type(value).__name__}, expected a string")
        if len(value) > MAX_TOKEN:
            raise PagingError(f"{what} at {path!r} is {len(value)} characters long, more than {MAX_TOKEN}")
        if value == current or value in self._seen:
            raise PagingError(f"{what} loop: page {self.pages} returned a {what} already followed")
        if current is not None:
            self._seen.add(current)
        return value


class CursorChain(_Tokens):
    """`cursor`: the first page without the parameter, then the reply's `next`.

    An empty page with a new cursor is followed (stopping could drop the rest), but
    five in a row end the chain: an upstream minting fresh cursors over nothing
    would otherwise page forever."""

    def __init__(self, spec: CursorSpec, cursor: str | None = None, pages: int = 0) -> None:
        super().__init__(pages=pages)
        self.spec, self.cursor = spec, cursor
        self._empty = 0

    def params(self) -> dict[str, Any]:
        return {} if self.cursor is None else {self.spec.param: self.cursor}

    def advance(self, records: int, reply: Any) -> None:
        self.pages += 1
        self._empty = self._empty + 1 if records == 0 else 0
        following = self._token(reply, self.spec.next, self.cursor, "cursor")
        if following is None or self._empty >= _MAX_EMPTY:
            self.done = True
            return
        self.cursor = following

    def checkpoint(self) -> tuple[str | None, int]:
        return self.cursor, self.pages


class NextUrlChain(_Tokens):
    """`next_url`: the reply's `next` is the next page's full URL, on our host only."""

    def __init__(self, spec: NextUrlSpec, base_url: str, url: str | None = None, pages: int = 0) -> None:
        super().__init__(pages=pages)
        self.spec, self.base_url, self.url = spec, base_url, url

    def params(self) -> dict[str, Any]:
        return {} if self.url is None else {"_url": self.url}

    def advance(self, records: int, reply: Any) -> None:
        self.pages += 1
        following = self._token(reply, self.spec.next, self.url, "next_url")
        if following is None:
            self.done = True
            return
        self.url = self.checked(following)

    def checked(self, url: str) -> str:
        """`url` if the SSRF rule and the same-host rule allow it; PagingError if not."""
        try:
            return check_url(url, same_host_as=self.base_url)
        except SsrfError as exc:
            raise PagingError(f"next_url refused: {exc}") from None

    def checkpoint(self) -> tuple[str | None, int]:
        return self.url, self.pages


class _Numbered:
    """What page and offset chains share: an empty page ends them, and a page equal
    to the one before means the upstream ignores the paging parameter."""

    def __init__(self, page_size: int, records_path: str) -> None:
        self.page_size, self.records_path = page_size, records_path
        self.done = False
        self._previous: str | None = None

    def _step(self, records: int, reply: Any, param: str) -> bool:
        """False when the chain ended on this page."""
        if records == 0:
            self.done = True
            return False
        fingerprint = content_id(dig(reply, self.records_path))
        if fingerprint == self._previous:
            raise PagingError(f"the upstream returned the same records twice in a row: does it read {param!r}?")
        self._previous = fingerprint
        return True


class PageNumbers(_Numbered):
    """`page`: page numbers from `start`, one more per non-empty page."""

    def __init__(self, spec: PageSpec, page_size: int, records_path: str = "", page: int | None = None) -> None:
        super().__init__(page_size, records_path)
        self.spec = spec
        self.page = spec.start if page is None else page

    def params(self) -> dict[str, Any]:
        size = {self.spec.size_param: self.page_size} if self.spec.size_param else {}
        return {self.spec.param: self.page, **size}

    def advance(self, records: int, reply: Any) -> None:
        if self._step(records, reply, self.spec.param):
            self.page += 1

    def checkpoint(self) -> tuple[str | None, int]:
        return None, self.page


class OffsetChain(_Numbered):
    """`offset`: offsets from 0 by the records received; `total`, when configured,
    ends the chain once the offset reaches it."""

    def __init__(self, spec: OffsetSpec, page_size: int, records_path: str = "", offset: int = 0) -> None:
        super().__init__(page_size, records_path)
        self.spec, self.offset = spec, offset

    def params(self) -> dict[str, Any]:
        return {self.spec.param: self.offset, self.spec.size_param: self.page_size}

    def advance(self, records: int, reply: Any) -> None:
        if not self._step(records, reply, self.spec.param):
            return
        self.offset += records
        if self.spec.total is not None:
            total = dig(reply, self.spec.total)
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                shown = "missing" if total is MISSING else type(total).__name__
                raise PagingError(f"total at {self.spec.total!r} is {shown}, expected a non-negative integer")
            self.done = self.offset >= total

    def checkpoint(self) -> tuple[str | None, int]:
        return None, self.offset
