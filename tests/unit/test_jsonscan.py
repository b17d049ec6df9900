"""The shallow JSON walk that saves a page holding one entry nested too deep."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.jsonscan import ENTRY_DEPTH, Unparsed, loads, parse_shallow, value_end

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@given(_values, st.integers(min_value=0, max_value=5), st.sampled_from([None, 2]))
def test_the_shallow_walk_reads_any_json_like_the_stdlib(value: Any, depth: int, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert parse_shallow(text, depth, json.loads) == value


@given(_values)
def test_value_end_finds_the_end_of_any_value_followed_by_more(value: Any) -> None:
    text = json.dumps(value)
    assert value_end(text + ', "next"', 0) == len(text)


@settings(max_examples=25)
@given(st.lists(_values, max_size=5), st.integers(min_value=0, max_value=5))
def test_one_deep_entry_becomes_unparsed_and_its_neighbours_parse(entries: list[Any], at: int) -> None:
    levels = sys.getrecursionlimit() + 100  # hypothesis may raise the limit while it runs
    deep = '{"id": "deep", "x": ' + "[" * levels + "]" * levels + "}"
    texts = [json.dumps(e) for e in entries]
    texts.insert(min(at, len(texts)), deep)
    body = '{"status": "success", "data": {"entries": [' + ", ".join(texts) + '], "nextCursor": "c"}}'
    data = loads(body.encode())["data"]
    parsed = data["entries"]
    unparsed = [e for e in parsed if isinstance(e, Unparsed)]
    assert len(unparsed) == 1 and unparsed[0].text == deep and "nested" in unparsed[0].reason
    assert [e for e in parsed if not isinstance(e, Unparsed)] == entries
    assert data["nextCursor"] == "c"


@pytest.mark.parametrize("text", ['{"a": [1, 2', '{"a" 1}', '[1 2]', '{"a": "b}', '[1],'])
def test_text_that_is_not_json_stays_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shallow(text, ENTRY_DEPTH, json.loads)


def test_a_deep_text_with_a_lone_surrogate_still_takes_the_slow_reading() -> None:
    """The slow reading's size check counts the text itself: a str holding a lone
    surrogate (what undecodable bytes become) cannot be re-encoded, and must not be."""
    levels = sys.getrecursionlimit() + 100
    parsed = loads('["\ud800", ' + "[" * levels + "]" * levels + "]")
    # compared as bytes: a failure report holding a lone surrogate cannot cross to xdist
    assert parsed[0].encode("utf-8", "surrogatepass") == b"\xed\xa0\x80"
    assert isinstance(parsed[1][0][0], Unparsed) and "nested" in parsed[1][0][0].reason
