"""The value bound behind `max_reply_values`: what a JSON parse can build, read from bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harvester.jsonscan import structural_bytes

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
)


def _built(value: Any) -> int:
    """The values a parse builds for `value`: itself, its items, an object's keys."""
    if isinstance(value, list):
        return 1 + sum(_built(item) for item in value)
    if isinstance(value, dict):
        return 1 + sum(1 + _built(item) for item in value.values())
    return 1


@given(_values, st.sampled_from([None, 2]))
def test_a_parse_builds_at_most_one_plus_twice_the_structural_bytes(value: Any, indent: int | None) -> None:
    body = json.dumps(value, indent=indent, ensure_ascii=False).encode()
    assert _built(json.loads(body)) <= 1 + 2 * structural_bytes(body)


def test_the_count_starts_where_asked_and_counts_bytes_inside_strings_too() -> None:
    body = bytearray(b'{"a": [1, 2], "b": "x,y:{["}')
    assert structural_bytes(body) == 6 + 4  # { : [ , , : and the four in the string
    assert structural_bytes(body, body.index(b'"b"')) == 1 + 4
