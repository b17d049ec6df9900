"""Parse a reply even when one entry inside it is nested too deep for the parsers.

orjson stops at 1,024 levels and the stdlib at Python's recursion limit, so a single
entry nested deeper than either made the whole reply "not JSON" and cost its page
on every run. `loads` tries the fast parsers first; only when the stdlib runs out of
recursion does it walk the outer `depth` levels of the text by hand (a loop over
strings, escapes and brackets, no recursion) and parse each value found below them
on its own. A value that still cannot be parsed becomes `Unparsed`, which the row
builder turns into one reject, so its neighbours land.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ReplyTooLargeError

__all__ = ["ENTRY_DEPTH", "SHALLOW_MAX_VALUES", "Unparsed", "loads", "parse_shallow", "structural_bytes", "value_end"]

# envelope → data → entries → one entry: the level at which values are parsed alone
ENTRY_DEPTH = 3
# The shallow walk is a Python loop that keeps each value it cannot parse as its own
# text and reason (~200 bytes, ~10 µs each): meant for one entry nested too deep among
# a page of ordinary ones, it takes replies of at most this many values (a page of
# 10,000 log entries, the largest page_size, holds 150,000-210,000), so a hostile one
# cannot spend the memory or the event loop's time.
SHALLOW_MAX_VALUES = 500_000
_MARKS = "{[,:"  # the characters `structural_bytes` counts
_MARK_BYTES = tuple(_MARKS.encode())

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR_END = re.compile(r"[,\]}: \t\n\r]")


@dataclass(frozen=True)
class Unparsed:
    """A value the parsers refused, kept as its text so it can be rejected faithfully."""

    text: str
    reason: str


def structural_bytes(buffer: bytes | bytearray | str, start: int = 0) -> int:
    """The `{ [ , :` bytes of `buffer[start:]`. Every value a JSON parse builds, but
    the root, follows one of them (a container's first item follows its `[` or `{`,
    an object's value its `:`, any later item its `,`) and each container is one, so
    a parse builds at most 1 + 2 × this many values. An upper bound, not a count:
    such bytes inside strings count too."""
    marks = _MARKS if isinstance(buffer, str) else _MARK_BYTES
    return sum(buffer.count(mark, start) for mark in marks)


def loads(body: bytes | str) -> Any:
    """A reply's JSON. orjson first (fast); the stdlib takes what orjson refuses but is
    still JSON: integers past 64 bits, bytes that are not UTF-8 (kept as lone
    surrogates, so the one entry holding them becomes a reject, not the page); the
    shallow walk takes nesting too deep for both, in a reply of at most
    `SHALLOW_MAX_VALUES` values (ReplyTooLargeError beyond). Raises ValueError for
    non-JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except RecursionError:
        _check_walkable(text)
        return parse_shallow(text, ENTRY_DEPTH, _leaf)


def _check_walkable(text: str) -> None:
    if (values := structural_bytes(text)) > SHALLOW_MAX_VALUES:
        raise ReplyTooLargeError(
            f"reply nests a value deeper than the JSON parsers allow and holds up to {values:,} values, "
            f"more than the {SHALLOW_MAX_VALUES:,} the slow reading of such a reply takes "
            "(a paged stream can lower page_size)"
        )


def _leaf(text: str) -> Any:
    """One value parsed alone, or Unparsed with the reason."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except RecursionError:
        return Unparsed(text, "nested deeper than the JSON parsers allow")
    except ValueError as exc:
        return Unparsed(text, f"not valid JSON ({str(exc)[:80]})")


def parse_shallow(text: str, depth: int, leaf: Callable[[str], Any]) -> Any:
    """Objects and arrays in the outer `depth` levels become dicts and lists; every
    value below them (and every scalar) is `leaf(its text)`. Raises ValueError when
    the outer levels are not JSON (a truncated reply stays invalid)."""
    value, end = _value(text, _skip(text, 0), depth, leaf)
    if _skip(text, end) != len(text):
        raise ValueError(f"extra data at character {end}")
    return value


def value_end(text: str, start: int) -> int:
    """Index just past the JSON value that begins at `start`, found by matching
    brackets outside strings. Iterative, so any depth costs no stack."""
    if start >= len(text):
        raise ValueError("a value is missing at the end of the text")
    first = text[start]
    if first == '"':
        return _string_end(text, start)
    if first not in "[{":
        found = _SCALAR_END.search(text, start)
        end = found.start() if found else len(text)
        if end == start:
            raise ValueError(f"a value is missing at character {start}")
        return end
    depth, at = 0, start
    while (found := _STRUCTURE.search(text, at)) is not None:
        char, at = found.group(), found.end()
        if char == '"':
            at = _string_end(text, found.start())
        elif char in "[{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return at
    raise ValueError(f"unterminated value from character {start}")


def _string_end(text: str, start: int) -> int:
    found = _STRING.match(text, start)
    if found is None:
        raise ValueError(f"unterminated string at character {start}")
    return found.end()


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _expect(text: str, at: int, char: str) -> int:
    if text[at : at + 1] != char:
        raise ValueError(f"expected {char!r} at character {at}")
    return _skip(text, at + 1)


def _value(text: str, at: int, depth: int, leaf: Callable[[str], Any]) -> tuple[Any, int]:
    opening = text[at : at + 1]
    if depth > 0 and opening == "[":
        return _array(text, at, depth, leaf)
    if depth > 0 and opening == "{":
        return _object(text, at, depth, leaf)
    end = value_end(text, at)
    return leaf(text[at:end]), end


def _array(text: str, at: int, depth: int, leaf: Callable[[str], Any]) -> tuple[list[Any], int]:
    items: list[Any] = []
    at = _skip(text, at + 1)
    if text[at : at + 1] == "]":
        return items, at + 1
    while True:
        item, at = _value(text, at, depth - 1, leaf)
        items.append(item)
        at = _skip(text, at)
        if text[at : at + 1] == "]":
            return items, at + 1
        at = _expect(text, at, ",")


def _object(text: str, at: int, depth: int, leaf: Callable[[str], Any]) -> tuple[dict[str, Any], int]:
    members: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        return members, at + 1
    while True:
        if text[at : at + 1] != '"':
            raise ValueError(f"expected a key at character {at}")
        key_end = _string_end(text, at)
        key = json.loads(text[at:key_end])
        at = _expect(text, _skip(text, key_end), ":")
        members[key], at = _value(text, at, depth - 1, leaf)
        at = _skip(text, at)
        if text[at : at + 1] == "}":
            return members, at + 1
        at = _expect(text, at, ",")
