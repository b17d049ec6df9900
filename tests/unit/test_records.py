"""API entries → rows or rejects; consumption metrics; inventory and organization shapes."""

from __future__ import annotations

import gc
import json
import math
import tracemalloc
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.pages import Reject
from harvester.records import RowBuilder, content_id
from harvester.sources.abstra.records import (
    consumption_rows,
    flatten_metrics,
    organization_rows,
    snapshot_items,
)
from harvester.sources.abstra.streams import LOG_STREAM_ACTIONS, TABLES

LOG_TABLES = sorted(LOG_STREAM_ACTIONS)
GOOD = {
    "id": "log-1",
    "createdAt": "2025-03-01T10:20:30.123Z",
    "projectId": "p1",
    "authorId": "u1",
    "event": "createBuild",
    "email": "a@example.com",
    "status": "success",
    "kind": "invite",
    "source": "editor",
    "errored": False,
    "extra": {"nested": [1, 2]},
}


def _builder(table: str = "organization_action_logs") -> RowBuilder:
    """How the fetchers build log rows: `createdAt` is required."""
    return RowBuilder(TABLES[table], required=("createdAt",))


def _reject(entry: object, table: str = "organization_action_logs") -> Reject:
    result = _builder(table).build(entry, table)
    assert isinstance(result, Reject), f"expected a reject, got {result!r}"
    return result


@pytest.mark.parametrize("table", LOG_TABLES)
def test_good_log_entry_becomes_a_row_with_typed_columns_and_raw(table):
    row = _builder(table).build(dict(GOOD), table)
    assert isinstance(row, dict)
    assert row["id"] == "log-1"
    assert row["created_at"] == datetime(2025, 3, 1, 10, 20, 30, 123000, tzinfo=UTC)
    assert row["project_id"] == "p1"
    assert row["author_id"] == "u1"
    assert row["event"] == "createBuild"
    assert row["email"] == "a@example.com"
    assert row["status"] == "success"
    assert row["kind"] == "invite"
    assert row["source"] == "editor"
    assert row["errored"] is False
    assert orjson.loads(orjson.dumps(row["raw"])) == GOOD, "raw keeps the whole entry, unknown fields included"
    # Every column the builder fills is a column of the table (harvested_at is the writer's).
    assert set(row) <= set(TABLES[table].column_names)


def test_a_built_row_holds_its_raw_json_in_about_its_own_size():
    """Rows wait in the writer's queue and batches, so their size is the harvester's
    memory. orjson's output sits in a buffer of at least 4 KiB; keeping it made each
    ~250-byte log row cost ~4.8 KB (issue 10, goal 2)."""
    entries = [{**GOOD, "id": f"log-{i}"} for i in range(2000)]
    builder = _builder()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows = [builder.build(entry, "organization_action_logs") for entry in entries]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(rows)
    finally:
        tracemalloc.stop()
    assert held < 1500, f"a built row holds {held:.0f} bytes"


def test_log_row_converts_created_at_with_an_offset_to_utc():
    row = _builder().build({"id": "x", "createdAt": "2025-03-01T12:00:00+02:00"}, "s")
    assert row["created_at"] == datetime(2025, 3, 1, 10, tzinfo=UTC)


def test_log_row_keeps_missing_optional_fields_as_null():
    row = _builder().build({"id": "x", "createdAt": "2025-03-01T00:00:00Z"}, "s")
    assert row["event"] is None and row["errored"] is None


def test_integer_id_is_kept_as_text():
    row = _builder().build({"id": 42, "createdAt": "2025-03-01T00:00:00Z"}, "s")
    assert row["id"] == "42"


def test_extra_columns_are_added_to_the_row():
    builder = RowBuilder(TABLES["executions"], required=("createdAt",))
    entry = {"id": "e1", "createdAt": "2025-03-01T00:00:00Z", "status": "running"}
    row = builder.build(entry, "executions", project_id="p9")
    assert row["project_id"] == "p9"
    assert row["status"] == "running"


def test_keyless_entry_gets_a_deterministic_content_hash_id():
    entry = {"createdAt": "2025-03-01T00:00:00Z", "event": "createTable", "projectId": "p1"}
    row = _builder().build(entry, "s")
    assert row["id"].startswith("sha256:")
    again = _builder().build(dict(entry), "s")
    assert again["id"] == row["id"]
    assert orjson.loads(orjson.dumps(row["raw"])) == entry


def test_content_hash_ignores_key_order_but_not_content():
    a = {"createdAt": "2025-03-01T00:00:00Z", "event": "x", "nested": {"b": 1, "a": 2}}
    b = {"nested": {"a": 2, "b": 1}, "event": "x", "createdAt": "2025-03-01T00:00:00Z"}
    c = {"createdAt": "2025-03-01T00:00:00Z", "event": "y", "nested": {"b": 1, "a": 2}}
    assert content_id(a) == content_id(b)
    assert content_id(a) != content_id(c)
    assert _builder().build(a, "s")["id"] == _builder().build(b, "s")["id"]


def test_content_hash_of_an_integer_beyond_64_bits_does_not_raise():
    """orjson cannot encode it; the id must still be computed, not crash the page."""
    entry = {"createdAt": "2025-03-01T00:00:00Z", "n": 2**70}
    assert content_id(entry) == content_id(dict(entry))
    assert content_id(entry).startswith("sha256:")
    assert isinstance(_builder().build(entry, "s"), dict)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (["not", "an", "object"], "entry is list, expected an object"),
        ("text", "entry is str, expected an object"),
        (None, "entry is NoneType, expected an object"),
        ({"id": "x"}, "createdAt is missing"),
        ({"id": "x", "createdAt": None}, "createdAt is missing"),
        ({"id": "x", "createdAt": "2025-03-01T10:00:00"}, "has no time zone"),
        ({"id": "x", "createdAt": "yesterday"}, "is not ISO-8601"),
        ({"id": "x", "createdAt": 1740823200}, "createdAt is int"),
        ({"id": ["x"], "createdAt": "2025-03-01T00:00:00Z"}, "id is list"),
        ({"id": {"v": 1}, "createdAt": "2025-03-01T00:00:00Z"}, "id is dict"),
        ({"id": True, "createdAt": "2025-03-01T00:00:00Z"}, "id is bool"),
        ({"id": 1.5, "createdAt": "2025-03-01T00:00:00Z"}, "id is float"),
        ({"id": "", "createdAt": "2025-03-01T00:00:00Z"}, "id is empty"),
        ({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "event": {"a": 1}}, "event is dict"),
        ({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "email": ["a"]}, "email is list"),
        ({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "status": True}, "status is bool"),
        ({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "errored": "yes"}, "errored is str"),
        ({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "errored": 1}, "errored is int"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_bad_entry_is_rejected_with_a_reason(entry, reason):
    rejected = _reject(entry)
    assert reason in rejected.reason
    assert rejected.stream == "organization_action_logs"
    assert rejected.raw == orjson.dumps(entry).decode(), "the reject keeps the entry as JSON text"


def test_reject_of_an_unencodable_entry_falls_back_to_repr():
    rejected = _reject({"id": "x", "createdAt": "2025-03-01T00:00:00Z", "errored": "no", "n": 2**70})
    assert "errored" in rejected.reason
    assert "1180591620717411303424" in rejected.raw


# Arbitrary JSON never makes `build` raise ------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
known_keys = st.sampled_from(
    ["id", "createdAt", "projectId", "authorId", "event", "email", "status", "kind", "source", "errored", "name"]
)
created_at = st.one_of(
    json_values,
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(alphabet="0123456789-:TZ+.", max_size=32),
)
entries = st.one_of(
    json_values,
    st.dictionaries(known_keys, json_values, max_size=8),
    st.fixed_dictionaries({"createdAt": created_at}, optional={"id": json_values, "errored": json_values}),
)


def _as_stored(entry: object) -> object:
    """What JSON can hold of an entry (orjson writes a non-finite float as null)."""
    try:
        return orjson.loads(orjson.dumps(entry))
    except TypeError:  # past 64-bit integers: the stdlib path
        return json.loads(json.dumps(entry))


@pytest.mark.parametrize("table", ["organization_action_logs", "executions", "projects", "project_connectors"])
@settings(max_examples=60)
@given(entry=entries)
def test_build_is_total_over_arbitrary_json(table, entry):
    """Whatever the API sends, `build` returns a row or a reject; it never raises."""
    required = ("createdAt",) if table in ("organization_action_logs", "executions") else ()
    builder = RowBuilder(TABLES[table], required=required, name_fallback=table != "executions")
    result = builder.build(entry, table)
    if isinstance(result, Reject):
        assert result.reason and isinstance(result.raw, str)
    else:
        assert isinstance(result, dict)
        assert json.loads(orjson.dumps(result["raw"])) == _as_stored(entry), "raw is lossless"
        assert isinstance(result["id"], str) and result["id"]
        if required:
            assert result["created_at"].utcoffset() is not None


# flatten_metrics / consumption ---------------------------------------------------


def test_flatten_metrics_yields_every_finite_number_by_dotted_path():
    data = {
        "cpu": {"seconds": 12, "cores": 0.5},
        "aiPrompts": {"count": 3, "label": "ai"},
        "items": [{"value": 7}, 8],
        "flag": True,
        "missing": None,
        "bad": float("nan"),
        "huge": float("inf"),
        "neg": -2,
    }
    assert dict(flatten_metrics(data)) == {
        "cpu.seconds": 12.0,
        "cpu.cores": 0.5,
        "aiPrompts.count": 3.0,
        "items.0.value": 7.0,
        "items.1": 8.0,
        "neg": -2.0,
    }


def test_flatten_metrics_of_a_bare_number_is_named_value():
    assert list(flatten_metrics(5)) == [("value", 5.0)]
    assert list(flatten_metrics(True)) == []
    assert list(flatten_metrics(None)) == []


@given(json_values)
def test_flatten_metrics_yields_only_finite_floats(data):
    for path, value in flatten_metrics(data):
        assert isinstance(path, str) and path
        assert type(value) is float and math.isfinite(value)


def test_consumption_rows_are_long_format_for_the_period():
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    data = {"tables": {"rows": 10}, "emails": 2}
    rows = consumption_rows("p1", start, end, data)
    assert [(r["metric"], r["value"]) for r in rows] == [("tables.rows", 10.0), ("emails", 2.0)]
    assert all(
        (r["project_id"], r["period_start"], r["period_end"], orjson.loads(orjson.dumps(r["raw"]))) == ("p1", start, end, data) for r in rows
    )


# snapshot_items / organization_rows ----------------------------------------------


def test_snapshot_items_of_a_list_are_the_items_untagged():
    assert list(snapshot_items([{"id": 1}, {"id": 2}])) == [(None, {"id": 1}), (None, {"id": 2})]


def test_snapshot_items_of_a_dict_of_lists_are_tagged_with_their_key():
    data = {"forms": [{"id": "f"}], "pages": [{"id": "p1"}, {"id": "p2"}], "count": 3, "meta": {"x": []}}
    assert list(snapshot_items(data)) == [
        ("forms", {"id": "f"}),
        ("pages", {"id": "p1"}),
        ("pages", {"id": "p2"}),
    ]


@pytest.mark.parametrize("data", [None, 3, "text", {}])
def test_snapshot_items_of_anything_else_is_empty(data):
    assert list(snapshot_items(data)) == []


def test_organization_rows_lists_folders_and_projects_with_their_folder():
    f1 = {"id": "f1", "name": "Ops", "projects": [{"id": "p1"}, {"id": "p2"}]}
    f2 = {"name": "Empty"}
    loose = {"id": "p3"}
    folders, projects = organization_rows({"folders": [f1, f2], "projects": [loose]})
    assert folders == [f1, f2]
    assert projects == [(f1, {"id": "p1"}), (f1, {"id": "p2"}), (None, loose)]


@pytest.mark.parametrize("data", [None, [], "x", {"folders": None}, {}])
def test_organization_rows_of_an_unexpected_shape_is_empty(data):
    assert organization_rows(data) == ([], [])


def test_organization_rows_keeps_a_non_object_folder_without_projects():
    folders, projects = organization_rows({"folders": ["weird", {"projects": [{"id": "p"}]}]})
    assert folders == ["weird", {"projects": [{"id": "p"}]}]
    assert projects == [({"projects": [{"id": "p"}]}, {"id": "p"})]


def test_folder_without_id_falls_back_to_its_name_as_key():
    row = RowBuilder(TABLES["folders"], name_fallback=True).build({"name": "Ops"}, "organization")
    assert row["id"] == "Ops"


def test_an_entry_that_cannot_be_stored_as_json_is_rejected_not_crashing_the_writer():
    """A lone surrogate (from bytes that were not UTF-8) would fail the whole batch's
    commit; it becomes one reject instead."""
    builder = RowBuilder(TABLES["auth_attempt_logs"], required=("createdAt",))
    surrogate = {"id": "x", "createdAt": "2025-01-01T00:00:00.000Z", "email": "bad\udcff"}
    result = builder.build(surrogate, "auth_attempt_logs")
    assert isinstance(result, Reject)
    assert "cannot be stored as JSON" in result.reason


def _nested(depth: int) -> dict[str, object]:
    entry: dict[str, object] = {"id": "y", "createdAt": "2025-01-01T00:00:00.000Z"}
    node = entry
    for _ in range(depth):
        node["n"] = {}
        node = node["n"]  # type: ignore[assignment]
    return entry


def test_nesting_past_orjsons_limit_is_still_stored_losslessly():
    row = RowBuilder(TABLES["auth_attempt_logs"]).build(_nested(300), "auth_attempt_logs")
    assert isinstance(row, dict)
    assert orjson.dumps(row["raw"]).count(b'"n"') == 300
