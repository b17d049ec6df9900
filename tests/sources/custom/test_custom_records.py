"""Replies → records → rows of `custom_<name>`: dotted paths, ids, times, window bounds,
and a Reject (never an exception) for a record that cannot be stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.pages import Reject
from harvester.records import content_id
from harvester.sources.custom.config import CustomStream
from harvester.sources.custom.records import (
    MISSING,
    ReplyShapeError,
    custom_table,
    dig,
    format_window,
    page_records,
    parse_time,
    record_row,
)
from sinks.tables import FirstWins


def _stream(**fields: Any) -> CustomStream:
    return CustomStream(name="audit", connection="sim-github", url="https://api.example.com/a", **fields)


def test_dig_follows_dotted_paths_and_list_indexes() -> None:
    reply = {"data": {"items": [{"id": 1}, {"id": 2}]}, "a.b": 1}
    assert dig(reply, "") is reply
    assert dig(reply, "data.items.1.id") == 2
    assert dig(reply, "data.missing") is MISSING
    assert dig(reply, "data.items.9") is MISSING
    assert dig(reply, "a.b") is MISSING  # a dot always separates segments
    assert dig([1, 2], "0") == 1


def test_page_records_reads_the_list_null_is_empty_missing_is_an_error() -> None:
    assert page_records({"data": {"items": [1, 2]}}, "data.items") == [1, 2]
    assert page_records([{"a": 1}], "") == [{"a": 1}]
    assert page_records({"data": {"items": None}}, "data.items") == []
    with pytest.raises(ReplyShapeError, match=r"^records path 'data.itms' is not in the reply \(top-level keys: data\)$"):
        page_records({"data": {"items": []}}, "data.itms")
    with pytest.raises(ReplyShapeError, match="^records path 'data' is dict, expected a list of records$"):
        page_records({"data": {}}, "data")
    with pytest.raises(ReplyShapeError, match="^the reply is str, expected a list of records$"):
        page_records("oops", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-01T12:00:00.123Z", datetime(2025, 5, 1, 12, 0, 0, 123000, UTC)),
        ("2025-05-01T14:00:00+02:00", datetime(2025, 5, 1, 12, tzinfo=UTC)),
        (1746100800, datetime(2025, 5, 1, 12, tzinfo=UTC)),  # seconds
        (1746100800123, datetime(2025, 5, 1, 12, 0, 0, 123000, UTC)),  # milliseconds
        (1746100800.5, datetime(2025, 5, 1, 12, 0, 0, 500000, UTC)),
        ("1746100800", datetime(2025, 5, 1, 12, tzinfo=UTC)),
        ("1717000000.000100", datetime(2024, 5, 29, 16, 26, 40, 100, UTC)),  # Slack's ts
        (99_999_999_999, datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)),  # the largest read as seconds
        (100_000_000_000, datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),  # the smallest read as ms
    ],
)
def test_time_is_iso_or_epoch_seconds_or_milliseconds_by_magnitude(value: Any, expected: datetime) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2025-05-01T12:00:00", "has no time zone"),
        ("yesterday", "is not ISO-8601"),
        (True, "time is bool, expected an ISO-8601 string or epoch number"),
        ([1], "time is list"),
        (float("inf"), "is not a finite number"),
        (10**20, "out of range"),
    ],
)
def test_unreadable_times_are_value_errors(value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_time(value)


def test_window_bounds_in_each_format() -> None:
    instant = datetime(2025, 5, 1, 12, 30, 15, 123456, UTC)
    assert format_window(instant, "iso") == "2025-05-01T12:30:15.123Z"
    assert format_window(instant, "date") == "2025-05-01"
    assert format_window(instant, "epoch_s") == 1746102615
    assert format_window(instant, "epoch_ms") == 1746102615123
    before = datetime(1969, 12, 31, 23, 59, 59, 500000, UTC)
    assert (format_window(before, "epoch_s"), format_window(before, "epoch_ms")) == (-1, -500)  # floored


@given(st.datetimes(min_value=datetime(1973, 3, 4), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_epoch_bounds_read_back_to_the_instant_they_floor(instant: datetime) -> None:
    ms = format_window(instant, "epoch_ms")
    assert isinstance(ms, int) and 0 <= (instant - parse_time(ms)).total_seconds() < 0.001
    seconds = format_window(instant, "epoch_s")
    assert isinstance(seconds, int) and 0 <= (instant - parse_time(seconds)).total_seconds() < 1


def test_row_carries_id_time_connection_and_raw() -> None:
    stream = _stream(id="meta.uid", time="at")
    record = {"meta": {"uid": 42}, "at": "2025-05-01T00:00:00.000Z", "x": [1]}
    row = record_row(record, stream)
    assert not isinstance(row, Reject)
    assert (row["id"], row["created_at"], row["connection"]) == ("42", datetime(2025, 5, 1, tzinfo=UTC), "sim-github")
    assert orjson.loads(orjson.dumps(row["raw"])) == record


def test_without_an_id_path_or_value_the_id_is_the_content_hash() -> None:
    record = {"email": "a@x.test"}
    for stream in (_stream(), _stream(id="id")):
        row = record_row(record, stream)
        assert not isinstance(row, Reject) and row["id"] == content_id(record)
    assert record_row({"id": None, "b": 1}, _stream(id="id"))["id"] == content_id({"id": None, "b": 1})  # type: ignore[index]


def test_a_record_without_its_time_keeps_a_null_created_at() -> None:
    row = record_row({"id": "a"}, _stream(time="created_at"))
    assert not isinstance(row, Reject) and row["created_at"] is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("text", "record is str, expected an object"),
        ({"id": True}, "id 'id' is bool, expected a string or an integer"),
        ({"id": {"n": 1}}, "id 'id' is dict"),
        ({"id": ""}, "id 'id' is empty"),
        ({"id": "a", "t": "2025-01-01"}, "time '2025-01-01' has no time zone"),
        ({"id": "a", "t": "soon"}, "time 'soon' is not ISO-8601"),
        ({"id": "a", "s": "\ud800"}, "record cannot be stored as JSON"),
    ],
)
def test_a_bad_record_is_a_reject_with_its_reason(record: Any, reason: str) -> None:
    result = record_row(record, _stream(id="id", time="t"))
    assert isinstance(result, Reject)
    assert result.stream == "custom_audit" and result.reason.startswith(reason)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10))
def test_record_row_is_total(record: Any) -> None:
    result = record_row(record, _stream(id="id", time="time"))
    assert isinstance(result, Reject | dict)


def test_table_is_first_wins_by_id_partitioned_by_day() -> None:
    table = custom_table("github_audit")
    assert table.name == "custom_github_audit"
    assert table.column_names == ("id", "created_at", "connection", "raw", "harvested_at")
    assert (table.key, table.merge, table.day_column) == (("id",), FirstWins(), "created_at")
