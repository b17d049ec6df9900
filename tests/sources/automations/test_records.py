"""Replies → rows: list_items finds the one array, builders type fields and reject bad entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.records import content_id
from harvester.sources.automations.records import (
    ListReplyError,
    PathScope,
    automation_id_of,
    automation_rows,
    default_input_rows,
    list_items,
    revision_rows,
    schedule_rows,
    trigger_rows,
)

WS = PathScope("org-1", "ws-1")
ONE = PathScope("org-1", "ws-1", "auto1")
NAME = "organizations/org-1/workspaces/ws-1/automations/auto1"


def raw_of(row: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(row["raw"]))


# -- list_items -------------------------------------------------------------


def test_list_items_takes_the_one_array_and_the_token() -> None:
    items, token = list_items({"automation_revisions": [{"name": "x"}], "next_page_token": "abc"})
    assert (items, token) == ([{"name": "x"}], "abc")


@pytest.mark.parametrize(
    "reply",
    [{}, {"automations": []}, {"next_page_token": ""}, {"total_size": 0}, {"automations": [], "unreachable": []}],
)
def test_empty_replies_are_an_empty_last_page(reply: dict[str, Any]) -> None:
    """AIP omits empty repeated fields; an empty token means no more pages."""
    assert list_items(reply) == ([], None)


def test_an_array_of_strings_beside_the_items_is_ignored() -> None:
    """AIP-217 `unreachable` holds strings, never the page's resources."""
    reply = {"automations": [{"name": "a"}], "unreachable": ["eu-west"], "next_page_token": "t"}
    assert list_items(reply) == ([{"name": "a"}], "t")


def test_non_objects_in_the_one_array_are_kept_for_the_builders_to_reject() -> None:
    items, _ = list_items({"automations": [{"name": NAME, "display_name": "x"}, 7]})
    built = automation_rows(items, WS)
    assert [r["id"] for r in built.rows] == ["auto1"]
    assert [(r.reason, r.raw) for r in built.rejects] == [("entry is int, expected an object", "7")]


def test_two_arrays_of_objects_is_an_error_naming_the_keys() -> None:
    with pytest.raises(ListReplyError) as caught:
        list_items({"automations": [{"a": 1}], "triggers": [{"b": 2}], "next_page_token": "x"})
    message = str(caught.value)
    assert "2 arrays of objects" in message and "'automations'" in message and "'triggers'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ([{"name": "x"}], "list reply is list, expected a JSON object with one array"),
        ("<html>", "list reply is str, expected a JSON object with one array"),
        (None, "list reply is NoneType, expected a JSON object with one array"),
        ({"items": [], "next_page_token": 5}, "next_page_token is int, expected a string"),
    ],
)
def test_unusable_replies_are_one_line_errors(reply: Any, expected: str) -> None:
    with pytest.raises(ListReplyError, match=expected):
        list_items(reply)


def test_a_hostile_reply_gets_a_short_one_line_error() -> None:
    reply = {f"k{i}\n" + "x" * 1000: [{"i": i}] for i in range(50)}
    with pytest.raises(ListReplyError) as caught:
        list_items(reply)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 800 and "and 42 more" in str(caught.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
_objects = st.lists(st.dictionaries(st.text(max_size=5), _json, max_size=3), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.text(min_size=1, max_size=20).filter(lambda k: k != "next_page_token"),
    items=_objects,
    token=st.none() | st.text(max_size=20),
    scalars=st.dictionaries(st.text(max_size=8), st.none() | st.integers() | st.text(max_size=5), max_size=3),
)
def test_list_items_finds_the_array_whatever_it_is_called(
    field: str, items: list[dict[str, Any]], token: str | None, scalars: dict[str, Any]
) -> None:
    reply: dict[str, Any] = {**{k: v for k, v in scalars.items() if k != "next_page_token"}, field: items}
    if token is not None:
        reply["next_page_token"] = token
    assert list_items(reply) == (items, token or None)


@settings(max_examples=60, deadline=None)
@given(reply=_json)
def test_list_items_is_total_a_list_or_one_clear_error(reply: Any) -> None:
    try:
        items, token = list_items(reply)
    except ListReplyError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(items, list) and (token is None or isinstance(token, str) and token)


# -- row builders -------------------------------------------------------------


def test_automation_rows_type_the_seed_fields_and_keep_raw() -> None:
    entry = {
        "name": NAME,
        "display_name": "Sync invoices",
        "create_time": "2025-01-02T03:04:05.678Z",
        "update_time": "2025-01-03T00:00:00.000+02:00",
        "delete_time": "2025-02-01T00:00:00Z",
        "activation_state": "AUTOMATION_ACTIVATION_STATE_ACTIVE",
        "marked_outputs": ["ok"],
        "brand_new_field": {"kept": True},
    }
    [row] = automation_rows([entry], WS).rows
    assert row["id"] == "auto1" and row["organization_id"] == "org-1" and row["workspace_id"] == "ws-1"
    assert row["create_time"] == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert row["update_time"] == datetime(2025, 1, 2, 22, tzinfo=UTC)
    assert row["delete_time"] == datetime(2025, 2, 1, tzinfo=UTC)
    assert row["publish_time"] is None and row["description"] is None
    assert raw_of(row) == entry


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": NAME}, "auto1"),
        ({"id": "plain"}, "plain"),
        ({"name": "bare-id"}, "bare-id"),
        ({"name": "organizations/o/other/x", "id": "fromid"}, "fromid"),
        ({"name": "organizations/o/other/x"}, None),
        ({"name": 5}, None),
        ({}, None),
    ],
)
def test_automation_id_comes_from_the_resource_name(entry: dict[str, Any], expected: str | None) -> None:
    assert automation_id_of(entry) == expected


def test_bad_automation_entries_are_rejects_with_reasons() -> None:
    built = automation_rows(
        [{"display_name": "no id"}, {"name": NAME, "create_time": "yesterday"}, {"name": NAME, "update_time": 5}],
        WS,
    )
    assert built.rows == []
    assert [r.reason for r in built.rejects] == [
        "automation has no id: neither a name ending in automations/{id} nor an id field",
        "create_time 'yesterday' is not ISO-8601",
        "update_time is int, expected an ISO-8601 string",
    ]
    assert all(r.stream == "automations" for r in built.rejects)


def test_revision_rows_are_keyed_by_full_name() -> None:
    entry = {"name": f"{NAME}/revisions/2.0", "create_time": "2025-01-01T00:00:00Z", "alternate_ids": ["v2"]}
    other = {"name": "organizations/org-1/workspaces/ws-1/automations/auto9/revisions/0.1"}
    built = revision_rows([entry, other, {"create_time": "2025-01-01T00:00:00Z"}, {"name": "//"}], ONE)
    assert [(r["id"], r["revision_id"], r["automation_id"], r["workspace_id"]) for r in built.rows] == [
        (f"{NAME}/revisions/2.0", "2.0", "auto1", "ws-1"),
        (other["name"], "0.1", "auto9", "ws-1"),  # the name's automation wins over the request's
    ]
    assert built.rows[0]["alternate_ids"] == ["v2"]
    assert [r.reason for r in built.rejects] == [
        "name is missing, expected organizations/.../automations/{id}/revisions/{revision}",
        "name is empty, expected a resource name",
    ]


@pytest.mark.parametrize("status, reply", [(404, {"error": {"code": 404}}), (200, {}), (200, None)])
def test_no_schedule_is_no_row(status: int, reply: Any) -> None:
    assert schedule_rows(reply, ONE, status=status).rows == []


def test_schedule_row_types_int32_from_number_or_string() -> None:
    reply = {"name": f"{NAME}/schedule", "enabled": True, "next_run_times": ["2025-06-01T00:00:00Z"],
             "remaining_occurrences": "12"}
    [row] = schedule_rows(reply, ONE).rows
    assert (row["automation_id"], row["enabled"], row["remaining_occurrences"]) == ("auto1", True, 12)
    assert row["next_run_times"] == ["2025-06-01T00:00:00Z"] and row["summary"] is None
    bad = schedule_rows({"remaining_occurrences": 1.5}, ONE)
    assert [r.reason for r in bad.rejects] == ["remaining_occurrences is float, expected an integer"]
    assert [r.reason for r in schedule_rows({"enabled": "yes"}, ONE).rejects] == [
        "enabled is str, expected true or false"
    ]
    assert [r.reason for r in schedule_rows([1], ONE).rejects] == ["entry is list, expected an object"]


def test_trigger_rows_need_a_trigger_id_and_belong_to_the_requested_automation() -> None:
    entries = [
        {"trigger_id": "t1", "automation": "elsewhere", "phase_type": "PHASE_TYPE_MAIN", "is_active": False},
        {"phase_type": "PHASE_TYPE_PRE"},
    ]
    built = trigger_rows(entries, ONE)
    assert [(r["automation_id"], r["trigger_id"], r["is_active"]) for r in built.rows] == [("auto1", "t1", False)]
    assert [r.reason for r in built.rejects] == ["trigger_id is missing"]


def test_default_inputs_key_is_id_else_content_hash_and_time_is_optional() -> None:
    with_id = {"id": "d1", "create_time": "2025-03-01T10:00:00.000Z", "inputs": {"a": 1}}
    without = {"inputs": {"a": 2}, "created_at": "2025-03-02T00:00:00Z"}
    timeless = {"inputs": {"a": 3}}
    built = default_input_rows([with_id, without, timeless, {"create_time": "soon"}], ONE)
    assert [(r["id"], r["created_at"]) for r in built.rows] == [
        ("d1", datetime(2025, 3, 1, 10, tzinfo=UTC)),
        (content_id(without), datetime(2025, 3, 2, tzinfo=UTC)),
        (content_id(timeless), None),
    ]
    assert all(r["automation_id"] == "auto1" for r in built.rows)
    assert [r.reason for r in built.rejects] == ["create_time 'soon' is not ISO-8601"]


def test_a_per_automation_reply_without_its_automation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="give PathScope.automation_id"):
        trigger_rows([], WS)
