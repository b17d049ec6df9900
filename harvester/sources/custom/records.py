"""A custom reply → rows of `custom_<name>`, or rejects. Pure and total.

The stream's config names where things are with dotted paths (`data.items`,
`meta.next_cursor`, `actor.id`; a numeric segment indexes a list; `""` is the reply
itself). Each record becomes one row: its id (the `id` path, or a content hash when
the stream has no id or the record lacks one, so a re-read still deduplicates), its
time, the connection it came through, and the record itself as `raw`. A record that
cannot be stored faithfully becomes a `Reject` with the reason and its page goes on.

Times: an ISO-8601 string with a zone, or a number of seconds or milliseconds since
the epoch (a number or a numeric string). Seconds or milliseconds is decided by
magnitude: below 1e11 it is seconds (1e11 s is the year 5138), from 1e11 up it is
milliseconds (1e11 ms is 1973-03-03), so only millisecond times before March 1973
would be misread. A zone-less ISO string is a reject, as for the Manager's logs:
guessing the zone would shift the row silently. A record without its time keeps a
NULL `created_at`; a time that is there but unreadable is a reject.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sinks.tables import FirstWins, Table, col

from ...pages import Reject, Row
from ...records import Unstorable, content_id, json_fragment, raw_text
from ...timeutil import format_wire, parse_entry_time
from .config import CustomStream

__all__ = [
    "MISSING",
    "ReplyShapeError",
    "custom_table",
    "dig",
    "format_window",
    "page_records",
    "parse_time",
    "record_row",
]

_MS_FROM: Final = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # Slack-style "1717000000.000100"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class ReplyShapeError(ValueError):
    """A reply whose records cannot be found: the page, not one record, is wrong."""


def custom_table(name: str) -> Table:
    """`custom_<name>`: immutable records, first copy of an id wins, lake by day."""
    columns = (col("id"), col("created_at", "TIMESTAMPTZ"), col("connection"))
    return Table.of(f"custom_{name}", columns, ("id",), FirstWins(), day_column="created_at")


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING. `""` is `data` itself."""
    if path == "":
        return data
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data


def page_records(reply: Any, path: str) -> list[Any]:
    """The records of one reply. A null list is an empty page; a missing one or a
    non-list is ReplyShapeError, because a mistyped `records` path must not look like
    an empty stream forever."""
    found = dig(reply, path)
    where = f"records path {path!r}" if path else "the reply"
    if found is MISSING:
        keys = ", ".join(sorted(map(str, reply))[:10]) if isinstance(reply, dict) else type(reply).__name__
        raise ReplyShapeError(f"{where} is not in the reply (top-level keys: {keys or 'none'})")
    if found is None:
        return []
    if not isinstance(found, list):
        raise ReplyShapeError(f"{where} is {type(found).__name__}, expected a list of records")
    return found


def parse_time(value: Any) -> datetime:
    """ISO-8601 with a zone, or epoch seconds/milliseconds (see the module docstring)."""
    if isinstance(value, str):
        try:
            return _epoch(float(value)) if _numeric(value) else parse_entry_time(value)
        except ValueError as exc:
            raise ValueError(str(exc).replace("createdAt", "time", 1)) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"time is {type(value).__name__}, expected an ISO-8601 string or epoch number")
    return _epoch(value)


def format_window(instant: datetime, fmt: Literal["iso", "date", "epoch_s", "epoch_ms"]) -> str | int:
    """A window bound as the upstream expects it: `2026-10-01T00:00:00.000Z`,
    `2026-10-01`, or whole epoch seconds/milliseconds (floored, so a bound never
    moves past the instant it stands for)."""
    utc = instant.astimezone(UTC)
    if fmt == "iso":
        return format_wire(utc)
    if fmt == "date":
        return utc.date().isoformat()
    ms = (utc - _EPOCH) // timedelta(milliseconds=1)
    return ms if fmt == "epoch_ms" else ms // 1000


def record_row(record: Any, stream: CustomStream) -> Row | Reject:
    """One record → a row of `custom_<name>` (`harvested_at` is the writer's), or a Reject."""
    table = stream.table
    if not isinstance(record, dict):
        return Reject(table, f"record is {type(record).__name__}, expected an object", raw_text(record))
    try:
        row: Row = {"id": _record_id(record, stream.id), "created_at": _record_time(record, stream.time)}
        row["raw"] = json_fragment(record)
    except ValueError as exc:  # Unstorable is a ValueError too
        prefix = "record cannot be stored as JSON: " if isinstance(exc, Unstorable) else ""
        return Reject(table, prefix + str(exc), raw_text(record))
    row["connection"] = stream.connection
    return row


def _record_id(record: dict[str, Any], path: str | None) -> str:
    value = MISSING if path is None else dig(record, path)
    if value is MISSING or value is None:
        return content_id(record)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"id {path!r} is {type(value).__name__}, expected a string or an integer")
    if value == "":
        raise ValueError(f"id {path!r} is empty")
    return str(value)


def _record_time(record: dict[str, Any], path: str | None) -> datetime | None:
    value = MISSING if path is None else dig(record, path)
    if value is MISSING or value is None:
        return None
    return parse_time(value)


def _numeric(text: str) -> bool:
    return _EPOCH_TEXT.match(text) is not None


def _epoch(value: float) -> datetime:
    if not math.isfinite(value):
        raise ValueError(f"time {value!r} is not a finite number")
    seconds = value if abs(value) < _MS_FROM else value / 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"time {value!r} is out of range for epoch seconds or milliseconds") from None
