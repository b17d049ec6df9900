"""Opaque keyset cursors for the log actions.

A cursor is urlsafe base64 (unpadded) of `{"v":1,"q":<query hash>,"k":<key>}` where
the key is `createdAt + id` of the last entry returned, or null for "before the
newest entry". Keyset rather than offset, so entries arriving while a chain is
paged never shift later pages; the query hash lets the server refuse a cursor
replayed against a different window, project set or filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

__all__ = ["CursorError", "decode_cursor", "encode_cursor", "query_hash"]


class CursorError(ValueError):
    """The cursor is unreadable, or was issued for another query."""


def query_hash(action: str, lo: str, hi: str, project_ids: list[str] | None, filters: dict[str, Any]) -> str:
    """What a chain must keep constant: action, window and filters (not limit)."""
    ident = [action, lo, hi, sorted(set(project_ids)) if project_ids is not None else None, sorted(filters.items())]
    return hashlib.sha256(orjson.dumps(ident)).hexdigest()[:16]


def encode_cursor(qhash: str, key: str | None) -> str:
    raw = orjson.dumps({"v": 1, "q": qhash, "k": key})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: object, qhash: str) -> str | None:
    """The keyset position in `cursor`; raises CursorError with the message to send."""
    if not isinstance(cursor, str) or not cursor:
        raise CursorError("Invalid cursor: expected the nextCursor string of a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise CursorError("Invalid cursor: not a cursor issued by this API") from None
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("k"), (str, type(None))):
        raise CursorError("Invalid cursor: not a cursor issued by this API")
    if data.get("q") != qhash:
        raise CursorError(
            "Invalid cursor: it does not belong to this query "
            "(pass the same from, to, projectIds and filters on every page)"
        )
    key: str | None = data["k"]
    return key
