"""The flows parsers: every accepted reply shape, every refusal with its reason, totality."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.records import content_id
from harvester.sources.flows.records import (
    count_rows,
    count_table_rows,
    log_entries,
    log_id,
    log_row,
    merge_error_reads,
)
from harvester.sources.flows.simdata import COUNT_FORMS, COUNT_WRAPPERS, render_counts
from harvester.sources.flows.tables import FLOW_EXECUTION_COUNTS, FLOW_LOGS
from harvester.timeutil import format_wire

DAY = date(2025, 5, 1)
SHAPES = [f"{w}.{f}" if w else f for w in ("", *COUNT_WRAPPERS) for f in COUNT_FORMS]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _counts(reply: Any, group_by: str = "user") -> dict[str, int]:
    items = count_rows(reply, DAY, group_by)
    assert not isinstance(items, str), items
    return {key: count for key, count, _ in items}


def _error(reply: Any, group_by: str = "user") -> str:
    result = count_rows(reply, DAY, group_by)
    assert isinstance(result, str), result
    assert "\n" not in result and result.startswith(f"execution counts for 2025-05-01 by {group_by}: ")
    return result


@pytest.mark.parametrize(
    ("reply", "group_by", "expected"),
    [
        ({"u1": 3, "u2": 0}, "user", {"u1": 3, "u2": 0}),
        ([{"user": "u1", "count": 3}], "user", {"u1": 3}),
        ([{"count": 3, "user": "u1"}], "flow", {"u1": 3}),  # names another grouping: still the only name
        ([{"executions": 3, "flow": "f"}], "flow", {"f": 3}),
        ([{"component": "email", "total": 2.0}], "component", {"email": 2}),
        ([{"id": "c1", "value": 2}], " component", {"c1": 2}),  # the seed's stray space
        ([{"name": "Billing", "n": 5}], "flow", {"Billing": 5}),
        ([{"id": 7, "count": 2}], "flow", {"7": 2}),
        ([{"flowId": "f1", "count": 1}], "flow", {"f1": 1}),
        ([{"id": "f1", "name": "Flow one", "count": 4}], "flow", {"f1": 4}),  # the id, not the label
        ([{"user": "u1", "userId": "x", "count": 4}], "user", {"u1": 4}),
        ([{"user": "u1", "count": 3, "errors": 1}], "user", {"u1": 3}),  # `count` says which number
        ([{"user": None, "id": "u9", "count": 1}], "user", {"u9": 1}),
        ({"user": "u1", "count": 3}, "user", {"u1": 3}),  # one item on its own
        ({"data": {"u1": 1}}, "user", {"u1": 1}),
        ({"status": "success", "data": [{"user": "u1", "count": 2}]}, "user", {"u1": 2}),
        ({"items": [{"user": "u1", "count": 2}], "total": 1}, "user", {"u1": 2}),
        ({"results": {"u1": 2}}, "user", {"u1": 2}),
        ({"data": {"items": [{"flow": "f", "count": 2}]}}, "flow", {"f": 2}),
        ({"data": 5, "items": 6}, "user", {"data": 5, "items": 6}),  # numbers, so no wrapper
        ([], "user", {}),
        ({}, "user", {}),
        ({"data": []}, "user", {}),
    ],
)
def test_accepted_count_shapes(reply: Any, group_by: str, expected: dict[str, int]) -> None:
    assert _counts(reply, group_by) == expected


def test_count_items_keep_what_they_came_from() -> None:
    items = count_rows({"data": [{"user": "u1", "count": 3, "note": "x"}], "status": "ok"}, DAY, "user")
    assert items == [("u1", 3, {"user": "u1", "count": 3, "note": "x"})]
    assert count_rows({"u1": 3}, DAY, "user") == [("u1", 3, {"u1": 3})]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("nope", "reply is the str 'nope': expected an object of key → count, a list of objects"),
        (None, "reply is null: expected"),
        ({"status": "error", "message": "boom"}, "reply is an object with keys 'status', 'message': expected"),
        ([{"user": {"id": "u1"}, "count": 3}], "group field 'user' is an object with keys 'id', expected a string"),
        ([{"user": ["u1"], "count": 3}], "group field 'user' is a list of 1, expected a string"),
        ([{"user": "u1"}], "has no numeric count field"),
        ([{"user": "u1", "count": "3"}], "has no numeric count field"),
        ([{"count": 3}], "has no field naming the group (expected one of user, userId, user_id, key, id"),
        ([{"user": "u1", "a": 1, "b": 2}], "several numeric fields ('a', 'b'): cannot tell which is the count"),
        ([{"user": "u1", "count": 1, "total": 2}], "several numeric fields ('count', 'total')"),
        ([{"user": True, "count": 1}], "group field 'user' is bool, expected a string"),
        ([3], "list item is the int 3, expected an object like {'user': key, 'count': n}"),
        ({"u1": 1.5}, "count 'u1' is 1.5, expected a whole number"),
        ({"u1": float("nan")}, "count 'u1' is nan, expected a whole number"),
        ({"u1": -1}, "count 'u1' is -1, expected 0 to 2^63-1"),
        ({"u1": 2**63}, "count 'u1' is 9223372036854775808, expected 0 to 2^63-1"),
        ({"u1": True}, "reply is an object with keys 'u1': expected"),
        ([{"user": "u1", "count": 1}, {"user": "u1", "count": 2}], "key 'u1' appears twice"),
        ({"u1": 1, "u2": "x"}, "item an object with keys 'u1', 'u2' has no field naming the group"),
        ({"data": [], "items": []}, "reply holds both 'data' and 'items': cannot tell which is the data"),
        ({"data": {"data": {"data": {"data": {}}}}}, "reply is an object with keys 'data': expected"),
    ],
)
def test_refused_count_replies_say_why(reply: Any, reason: str) -> None:
    assert reason in _error(reply)


@given(
    st.dictionaries(st.text(max_size=12), st.integers(min_value=0, max_value=2**63 - 1), max_size=8),
    st.sampled_from(SHAPES),
    st.sampled_from(["user", "flow", "component"]),
)
def test_every_simulator_shape_round_trips(counts: dict[str, int], shape: str, group_by: str) -> None:
    """Any counts, rendered in any shape the simulator serves, read back the same."""
    reply = orjson.loads(orjson.dumps(render_counts(counts, group_by, shape)))
    assert _counts(reply, group_by) == counts


@given(JSON, st.sampled_from(["user", "flow", "component"]))
def test_count_rows_is_total(reply: Any, group_by: str) -> None:
    result = count_rows(reply, DAY, group_by)
    if isinstance(result, str):
        assert "\n" not in result
    else:
        assert all(isinstance(k, str) and isinstance(n, int) and n >= 0 for k, n, _ in result)


def test_count_table_rows_fill_the_table() -> None:
    rows = count_table_rows({"data": [{"component": "email", "count": 2}]}, DAY, " component")
    assert not isinstance(rows, str)
    (row,) = rows
    writer_filled = {"harvested_at"}
    assert set(row) == set(FLOW_EXECUTION_COUNTS.column_names) - writer_filled
    assert (row["day"], row["group_by"], row["key"], row["count"]) == (DAY, "component", "email", 2)
    assert orjson.loads(orjson.dumps(row["raw"])) == {"component": "email", "count": 2}
    assert count_table_rows("x", DAY, "user") == count_rows("x", DAY, "user")


# --- logs -------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", [None, "data", "logs", "items", "results"])
def test_log_entries_at_the_top_or_under_a_wrapper(wrapper: str | None) -> None:
    entries = [{"id": "a"}, {"id": "b"}]
    reply = entries if wrapper is None else {"status": "success", wrapper: entries}
    assert log_entries(reply) == entries


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"message": "denied"}, "logs: reply is an object with keys 'message': expected a list of entries"),
        ({"entries": []}, "logs: reply is an object with keys 'entries': expected a list of entries"),
        ("x", "logs: reply is the str 'x': expected a list of entries, at the top or under data, logs, items"),
        ({"data": [], "logs": []}, "logs: reply holds both 'data' and 'logs'"),
    ],
)
def test_log_replies_refused_with_reason(reply: Any, reason: str) -> None:
    result = log_entries(reply)
    assert isinstance(result, str) and result.startswith(reason)


def test_log_row_reads_camel_case_entries() -> None:
    entry = {"id": "l1", "flowId": "f1", "stepId": "s1", "createdAt": "2025-05-01T10:00:00.250Z", "x": 1}
    row = log_row(entry, "tenant-1", True)
    assert not isinstance(row, str)
    assert set(row) == set(FLOW_LOGS.column_names) - {"harvested_at"}
    assert (row["id"], row["tenant"], row["flow_id"], row["step_id"], row["is_error"]) == (
        "l1", "tenant-1", "f1", "s1", True,
    )
    assert row["created_at"] == datetime(2025, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    assert orjson.loads(orjson.dumps(row["raw"])) == entry


TEN = datetime(2025, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"_id": "l2", "flow_id": "f", "step_id": "s", "timestamp": 1746093600250},
            ("l2", "f", "s", TEN.replace(microsecond=250_000)),
        ),
        ({"logId": 42, "flow": "f", "step": "s", "time": 1746093600}, ("42", "f", "s", TEN)),
        ({"log_id": "l3", "created_at": "2025-05-01T12:00:00+02:00"}, ("l3", None, None, TEN)),
        ({"id": "l4", "date": "2025-05-01"}, ("l4", None, None, datetime(2025, 5, 1, tzinfo=UTC))),
    ],
)
def test_log_row_reads_other_spellings(entry: dict[str, Any], expected: tuple[Any, ...]) -> None:
    row = log_row(entry, "t", False)
    assert not isinstance(row, str), row
    assert (row["id"], row["flow_id"], row["step_id"], row["created_at"]) == expected


def test_entry_without_id_or_time_is_keyed_by_its_content() -> None:
    entry = {"flowId": "f1", "message": "Step failed"}
    row = log_row(entry, "t", True)
    assert not isinstance(row, str)
    assert row["id"] == content_id(entry) == log_id(entry)
    assert row["created_at"] is None
    assert log_row({"message": "Step failed", "flowId": "f1"}, "t", True)["id"] == row["id"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("text", "log entry is the str 'text', expected an object"),
        ({"id": ""}, "log entry: id is empty"),
        ({"id": {"v": 1}}, "log entry: id is dict, expected a string"),
        ({"id": "a", "flowId": ["f"]}, "log entry: flowId is list, expected a string"),
        ({"id": "a", "createdAt": "2025-05-01T10:00"}, "log entry: createdAt '2025-05-01T10:00' has no time zone"),
        ({"id": "a", "timestamp": "yesterday"}, "log entry: timestamp 'yesterday' is not ISO-8601"),
        ({"id": "a", "time": True}, "log entry: time is bool, expected an ISO-8601 string"),
        ({"id": "a", "time": 10**20}, "log entry: time 100000000000000000000 is out of range"),
        ({"id": "a", "time": float("inf")}, "log entry: time is inf, expected a time"),
        ({"id": "a", "msg": "\ud800"}, "log entry cannot be stored as JSON"),
    ],
)
def test_bad_log_entries_are_rejected_with_reason(entry: Any, reason: str) -> None:
    result = log_row(entry, "t", False)
    assert isinstance(result, str) and result.startswith(reason)


MOMENTS = st.datetimes(
    min_value=datetime(1974, 1, 1), max_value=datetime(5000, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@given(MOMENTS)
def test_iso_and_epoch_times_agree(moment: datetime) -> None:
    """The same instant as ISO text, epoch milliseconds or whole epoch seconds is one time
    (a number is milliseconds when seconds would be past year 5138, so 1974..5000 is exact)."""
    ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    spellings = [{"createdAt": format_wire(moment)}, {"timestamp": ms}]
    if ms % 1000 == 0:
        spellings.append({"time": ms // 1000})
    for entry in spellings:
        row = log_row({"id": "x", **entry}, "t", False)
        assert not isinstance(row, str), row
        assert row["created_at"] == moment


@given(JSON, st.booleans())
def test_log_parsers_are_total(reply: Any, is_error: bool) -> None:
    entries = log_entries(reply)
    assert isinstance(entries, list | str)
    for entry in entries if isinstance(entries, list) else [reply]:
        row = log_row(entry, "t", is_error)
        assert isinstance(row, str) and "\n" not in row or isinstance(row, dict) and row["is_error"] is is_error


# --- merging the errors read --------------------------------------------------------

ENTRY_IDS = st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=10)


@given(ENTRY_IDS, ENTRY_IDS, st.integers(min_value=0, max_value=3))
def test_merge_marks_what_the_errors_read_holds(plain_ids: list[str], extra: list[str], keyless: int) -> None:
    plain = [{"id": i} for i in plain_ids] + [{"message": f"m{k}"} for k in range(keyless)]
    errors = [{"id": i} for i in (plain_ids[::2] + extra)] + [{"message": "m0"}] * min(keyless, 1)
    merged = merge_error_reads(plain, errors)
    by_id = {log_id(entry): flag for entry, flag in merged}
    assert len(by_id) == len(merged)  # each entry once
    error_ids = {log_id(e) for e in errors}
    assert by_id == {log_id(e): log_id(e) in error_ids for e in plain + errors}


def test_merge_keeps_plain_order_and_adds_late_errors() -> None:
    plain = [{"id": "a"}, {"id": "b"}, {"id": "a"}]
    errors = [{"id": "b"}, {"id": "c"}]
    assert merge_error_reads(plain, errors) == [({"id": "a"}, False), ({"id": "b"}, True), ({"id": "c"}, True)]
