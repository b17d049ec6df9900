"""AIP-158 paging for the simulator: opaque `page_token`s over a keyset.

A token is urlsafe base64 (unpadded) of `{"v":1,"q":<query hash>,"k":<key>}`, where
`k` is the sort key of the last item served (null: before the first). Keyset, not
offset, so an automation deleted or purged between two pages never shifts the next
page; the query hash makes a token replayed with other parameters (another
automation, another `show_deleted`) an INVALID_ARGUMENT, as AIP-158 requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson

__all__ = ["PageTokenError", "encode_token", "page_of", "query_hash", "restart_token"]

T = TypeVar("T")


class PageTokenError(ValueError):
    """A page_token this server did not issue for this query; the message is for the caller."""


def query_hash(*parts: object) -> str:
    """What must stay the same along a chain of pages (not page_size)."""
    return hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:16]


def encode_token(qhash: str, key: str | None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": 1, "q": qhash, "k": key})).rstrip(b"=").decode()


def _decode(token: str, qhash: str) -> str | None:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise PageTokenError("page_token is not one this API issued") from None
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("k"), str | None):
        raise PageTokenError("page_token is not one this API issued")
    if data.get("q") != qhash:
        raise PageTokenError("page_token belongs to another query: keep every parameter but page_size the same")
    key: str | None = data["k"]
    return key


def restart_token(token: str | None, qhash: str) -> str:
    """A token that reads the same page again (what the paging faults hand out)."""
    return token or encode_token(qhash, None)


def page_of(
    items: Sequence[T], key: Callable[[T], str], size: int, token: str | None, qhash: str
) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by descending `key`) after `token`, and the next
    token (None on the last page)."""
    after = _decode(token, qhash) if token else None
    rest = [item for item in items if after is None or key(item) < after]
    page = rest[:size]
    return page, (encode_token(qhash, key(page[-1])) if len(rest) > size else None)
