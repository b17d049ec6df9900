"""UTC instants: parsing user input, the wire format, durations.

Everything inside the harvester is an aware `datetime` in UTC. The wire format is
ISO-8601 with exactly three fractional digits and a `Z` (`2026-10-01T00:00:00.000Z`),
which sorts as text the same way it sorts as time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from state.partitions import wire_instant

__all__ = [
    "floor_day",
    "format_wire",
    "parse_duration",
    "parse_entry_time",
    "parse_user_instant",
    "utc_now",
]

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def utc_now() -> datetime:
    """Now, truncated to the millisecond so it survives a round trip through the wire."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


format_wire = wire_instant  # `2026-10-01T00:00:00.000Z`: what the APIs' `from`/`to` expect


def parse_user_instant(text: str, *, what: str = "date") -> datetime:
    """A CLI or config date: `YYYY-MM-DD` (midnight UTC) or an ISO-8601 datetime.

    A datetime without a zone is taken as UTC, because that is what a person typing
    `2025-03-01T12:00` at a UTC-everywhere tool means.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not a date: use YYYY-MM-DD or an ISO-8601 datetime"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what} {text!r} is out of range") from None


def parse_entry_time(value: object) -> datetime:
    """An API entry's `createdAt`. Strict: a zone is required, since guessing one
    would silently shift the row; the caller turns ValueError into a reject."""
    if not isinstance(value, str):
        raise ValueError(f"createdAt is {type(value).__name__}, expected an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"createdAt {value[:64]!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise ValueError(f"createdAt {value[:64]!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"createdAt {value[:64]!r} is out of range") from None


def parse_duration(text: str) -> timedelta:
    """`2h`, `30m`, `1d`, `0s`: the config's `lookback`."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"duration {text!r} is not like 30m, 2h or 1d")
    try:
        return int(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def floor_day(instant: datetime) -> datetime:
    """Midnight UTC of the instant's day."""
    return instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
