"""commit_snapshot and retire_snapshot_scopes: first/last seen, removal, revival, scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harvester.errors import SinkError
from harvester.pages import Reject, SnapshotWrite
from sinks import Warehouse

S1 = datetime(2025, 4, 1, tzinfo=UTC)
S2 = S1 + timedelta(hours=1)
S3 = S1 + timedelta(hours=2)


def member(i: str, email: str) -> dict[str, Any]:
    return {"id": i, "author_id": f"a{i}", "email": email, "folders": [{"id": "f1"}], "raw": {"id": i}}


def table_row(project: str, i: str, name: str) -> dict[str, Any]:
    return {"project_id": project, "id": i, "name": name, "columns": [{"name": "c"}], "raw": {"id": i}}


def fetch(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return wh._connection().execute(sql).fetchall()


def seen(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    return fetch(wh, f"SELECT id, first_seen_at, last_seen_at, removed_at FROM {table} ORDER BY ALL")


def test_new_rows_are_first_and_last_seen_now(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "a@x"), member("m2", "b@x")], S1))
    assert seen(warehouse, "members") == [("m1", S1, S1, None), ("m2", S1, S1, None)]


def test_present_rows_refresh_missing_rows_are_removed_and_come_back(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "a@x"), member("m2", "b@x")], S1))
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "new@x")], S2))
    assert seen(warehouse, "members") == [("m1", S1, S2, None), ("m2", S1, S1, S2)]
    assert fetch(warehouse, "SELECT email, folders FROM members WHERE id = 'm1'") == [("new@x", '[{"id":"f1"}]')]
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "new@x"), member("m2", "b@x")], S3))
    assert seen(warehouse, "members") == [("m1", S1, S3, None), ("m2", S1, S3, None)]


def test_a_removed_row_keeps_the_time_it_was_first_missed(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "a@x"), member("m2", "b@x")], S1))
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "a@x")], S2))
    warehouse.commit_snapshot(SnapshotWrite("members", "", [member("m1", "a@x")], S3))
    assert seen(warehouse, "members")[1] == ("m2", S1, S1, S2)


def test_an_empty_snapshot_removes_the_whole_scope(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [table_row("p1", "t1", "a")], S1))
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [], S2))
    assert seen(warehouse, "project_tables") == [("t1", S1, S1, S2)]


def test_a_project_scope_touches_only_that_project(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [table_row("p1", "t1", "a")], S1))
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p2", [table_row("p2", "t1", "b")], S1))
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [table_row("p1", "t2", "c")], S2))
    got = fetch(warehouse, "SELECT project_id, id, removed_at FROM project_tables ORDER BY ALL")
    assert got == [("p1", "t1", S2), ("p1", "t2", None), ("p2", "t1", None)]


def test_the_last_copy_of_a_key_in_a_snapshot_wins(warehouse: Warehouse) -> None:
    rows = [table_row("p1", "t1", "old"), table_row("p1", "t1", "new")]
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", rows, S1))
    assert fetch(warehouse, "SELECT name FROM project_tables") == [("new",)]


def test_a_table_keyed_by_project_alone(warehouse: Warehouse) -> None:
    row = {"project_id": "p1", "deployed": {"v": 1}, "editor": None, "raw": {}}
    warehouse.commit_snapshot(SnapshotWrite("project_abstra_json", "p1", [row], S1))
    warehouse.commit_snapshot(SnapshotWrite("project_abstra_json", "p1", [{**row, "deployed": {"v": 2}}], S2))
    assert fetch(warehouse, "SELECT deployed, first_seen_at, last_seen_at FROM project_abstra_json") == [
        ('{"v":2}', S1, S2)
    ]


def test_rows_of_another_project_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError, match="rows of project_id p2"):
        warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [table_row("p2", "t1", "a")], S1))


def test_an_organization_table_has_no_project_scope(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError, match="no scopes"):
        warehouse.commit_snapshot(SnapshotWrite("members", "p1", [], S1))


def test_snapshot_rejects_are_stored(warehouse: Warehouse) -> None:
    reject = Reject("members", "no id", '{"email": "x"}')
    warehouse.commit_snapshot(SnapshotWrite("members", "", [], S1, [reject]))
    assert fetch(warehouse, "SELECT stream, reason FROM _rejects") == [("members", "no id")]


def test_retire_marks_projects_that_left_the_organization(warehouse: Warehouse) -> None:
    for project in ("p1", "p2", "p3"):
        warehouse.commit_snapshot(SnapshotWrite("project_tables", project, [table_row(project, "t1", "a")], S1))
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p3", [], S2))  # p3's row already removed
    assert warehouse.retire_snapshot_scopes("project_tables", {"p1"}, S3) == 1
    got = fetch(warehouse, "SELECT project_id, removed_at FROM project_tables ORDER BY ALL")
    assert got == [("p1", None), ("p2", S3), ("p3", S2)]
    assert warehouse.retire_snapshot_scopes("project_tables", {"p1"}, S3) == 0


def test_retire_with_no_live_projects_removes_everything(warehouse: Warehouse) -> None:
    warehouse.commit_snapshot(SnapshotWrite("project_tables", "p1", [table_row("p1", "t1", "a")], S1))
    assert warehouse.retire_snapshot_scopes("project_tables", set(), S2) == 1


def test_retire_needs_a_per_project_table(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError):
        warehouse.retire_snapshot_scopes("members", set(), S1)
