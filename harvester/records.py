"""API entries → warehouse rows, or rejects. Pure and total: never raises on bad data.

Every table keeps its known fields as typed columns and the whole entry as `raw`, so an
API that adds a field loses nothing. An entry that cannot be stored faithfully (not an
object, no usable `createdAt`, a key of the wrong type, a known field whose type would
have to be guessed) becomes a `Reject` with the reason; its page goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from sinks.tables import Table

from .jsonscan import Unparsed
from .pages import Reject, Row
from .timeutil import parse_entry_time

__all__ = [
    "RowBuilder",
    "content_id",
    "Unstorable",
    "json_fragment",
]


class _Bad(ValueError):
    """A field that cannot be stored as its column's type."""


def content_id(entry: Any) -> str:
    """A deterministic id for an entry that came without one: the same content always
    gets the same id, so a re-fetch deduplicates."""
    try:
        canonical = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        canonical = json.dumps(entry, sort_keys=True, default=repr).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:32]


def raw_text(entry: Any) -> str:
    """JSON text of anything, for `_rejects.raw`; falls back to repr for the unencodable."""
    try:
        return orjson.dumps(entry).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(entry)


_RAW_CHARS = 64 * 1024


def _clip(text: str) -> str:
    """An unparsable entry's text for `_rejects.raw`: enough to recognise it, never
    a whole hostile megabyte."""
    if len(text) <= _RAW_CHARS:
        return text
    return f"{text[:_RAW_CHARS]}... ({len(text)} characters in all)"


class Unstorable(ValueError):
    """A value JSON cannot carry faithfully (a lone surrogate from non-UTF-8 bytes,
    nesting deeper than any encoder here takes)."""


def json_fragment(value: Any) -> orjson.Fragment:
    """`value` encoded once, now: proves it can be stored and keeps a compact copy in
    place of the parsed tree, so queued pages cost bytes, not dicts.

    orjson covers nearly everything; the stdlib takes what it refuses (integers past
    64 bits, nesting past 255 levels). Raises Unstorable when neither can.

    orjson returns its output in a buffer of at least 4 KiB that is never shrunk, so
    a 250-byte log entry held 4 KiB: 85% of a queued row's memory. Decoding it to
    an exact-size str (~0.15 us; orjson's output is always valid UTF-8) keeps a
    page of 1,000 log rows near 1 MB instead of 5."""
    try:
        return orjson.Fragment(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.Fragment(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:  # TypeError: an Unparsed inside
        raise Unstorable(f"{type(exc).__name__}: {str(exc)[:120]}") from None


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{name} is {type(value).__name__}, expected a string")
    return str(value)


def _bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _Bad(f"{name} is {type(value).__name__}, expected true or false")


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(f"{name} is {type(value).__name__}, expected a number")
    return float(value)


def _timestamp(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_entry_time(value)
    except ValueError as exc:
        raise _Bad(str(exc).replace("createdAt", name, 1)) from None


def _json(value: Any, name: str) -> Any:
    return value


_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "VARCHAR": _text,
    "BOOLEAN": _bool,
    "DOUBLE": _number,
    "TIMESTAMPTZ": _timestamp,
    "JSON": _json,
}


@dataclass(frozen=True)
class _Field:
    column: str
    source: str
    convert: Callable[[Any, str], Any]


class RowBuilder:
    """Builds rows of one table from API entries.

    `required` names source fields an entry must carry (e.g. `createdAt` for events).
    The key column `id`, when the table has one, falls back to `name` (snapshots) and
    then to a content hash, so a keyless entry is still stored exactly once.
    """

    def __init__(self, table: Table, *, required: tuple[str, ...] = (), name_fallback: bool = False):
        self.table = table
        self.required = required
        self.name_fallback = name_fallback
        self._fields = tuple(
            _Field(c.name, c.source, _CONVERTERS[c.sql_type])
            for c in table.columns
            if c.source is not None and c.name != "id"
        )
        self._has_id = any(c.name == "id" for c in table.columns)

    def build(self, entry: Any, stream: str, **extra: Any) -> Row | Reject:
        """One entry → a row (with `extra` columns such as project_id), or a Reject."""
        if isinstance(entry, Unparsed):
            return Reject(stream, f"entry cannot be parsed: {entry.reason}", _clip(entry.text))
        if not isinstance(entry, dict):
            return Reject(stream, f"entry is {type(entry).__name__}, expected an object", raw_text(entry))
        try:
            for name in self.required:
                if entry.get(name) is None:
                    raise _Bad(f"{name} is missing")
            row: Row = {f.column: f.convert(entry.get(f.source), f.source) for f in self._fields}
            if self._has_id:
                row["id"] = self._id(entry)
        except _Bad as exc:
            return Reject(stream, str(exc), raw_text(entry))
        try:
            row["raw"] = json_fragment(entry)
        except Unstorable as exc:
            return Reject(stream, f"entry cannot be stored as JSON: {exc}", raw_text(entry))
        row.update(extra)
        return row

    def _id(self, entry: dict[str, Any]) -> str:
        value = entry.get("id")
        if value is None and self.name_fallback:
            value = entry.get("name")
        if value is None:
            return content_id(entry)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Bad(f"id is {type(value).__name__}, expected a string")
        if value == "":
            raise _Bad("id is empty")
        return str(value)
