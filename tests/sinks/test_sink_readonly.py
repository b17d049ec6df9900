"""Read-only access: missing file, lock conflicts, the `sql` guard, and `status`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harvester.errors import RunLockedError, SinkError
from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse
from tests.children import held_by_child

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

T0 = datetime(2025, 5, 1, tzinfo=UTC)

writer_in_another_process = functools.partial(held_by_child, "from sinks import Warehouse", "Warehouse.open")
@pytest.fixture
def filled(wh_path: Path) -> Path:
    logs = Partition("connector_action_logs", T0, T0 + timedelta(days=1))
    later = Partition("connector_action_logs", T0 + timedelta(days=1), T0 + timedelta(days=2))
    rows = [{"id": "e1", "created_at": T0 + timedelta(hours=1), "raw": {}}]
    with Warehouse.open(wh_path, ABSTRA_TABLES) as wh:
        wh.start_run("r1", "run", T0)
        wh.register_partitions("r1", [logs, later])
        wh.commit_pages([PageWrite(logs, "connector_action_logs", rows, Checkpoint(logs.key, done=True, pages=1))])
        wh.commit_snapshot(SnapshotWrite("members", "", [{"id": "m1"}], T0))
        wh.commit_snapshot(SnapshotWrite("members", "", [], T0 + timedelta(hours=1)))
        wh.finish_run("r1", "partial", T0 + timedelta(minutes=5), {"rows": {"connector_action_logs": 1}})
    return wh_path


def test_a_missing_warehouse_says_how_to_create_one(tmp_path: Path) -> None:
    expected = r"no warehouse at .*nope\.duckdb: run `harvester run` or `harvester backfill` first"
    with pytest.raises(SinkError, match=expected):
        Warehouse.open_read_only(tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()


def test_select_works_and_returns_columns_and_rows(filled: Path) -> None:
    with Warehouse.open_read_only(filled) as wh:
        assert wh.query("SELECT id, raw FROM connector_action_logs") == (["id", "raw"], [("e1", "{}")])
        assert wh.query("SELECT * FROM range(10)", max_rows=3)[1] == [(0,), (1,), (2,)]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE x (a INT)",
        "INSERT INTO members (id) VALUES ('x')",
        "ATTACH ':memory:' AS other",
        "COPY members TO 'out.csv'",
        "SELECT 1; DROP TABLE members",
        "SET memory_limit = '10GB'",
    ],
)
def test_the_sql_guard_refuses_writes(filled: Path, sql: str) -> None:
    with Warehouse.open_read_only(filled) as wh:
        with pytest.raises(SinkError, match="read-only queries"):
            wh.query(sql)
        assert wh.query("SELECT count(*) FROM members")[1] == [(1,)]


def test_a_bad_query_is_a_one_line_sink_error(filled: Path) -> None:
    with Warehouse.open_read_only(filled) as wh, pytest.raises(SinkError) as caught:
        wh.query("SELECT nope FROM members")
    assert "\n" not in str(caught.value)


def test_queries_need_a_read_only_warehouse(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError, match="read-only"):
        warehouse.query("SELECT 1")


def test_a_read_only_warehouse_refuses_writes(filled: Path) -> None:
    with Warehouse.open_read_only(filled) as wh, pytest.raises(SinkError, match="read-only"):
        wh.retire_snapshot_scopes("project_tables", set(), T0)


def test_status_reports_rows_coverage_pending_and_the_last_run(filled: Path) -> None:
    now = T0 + timedelta(days=3)
    with Warehouse.open_read_only(filled) as wh:
        status = {s["table"]: s for s in wh.status(now)}
    logs = status["connector_action_logs"]
    assert logs["rows"] == 1
    assert logs["newest"] == T0 + timedelta(hours=1)
    # The first day is done, the second pending: complete up to the pending one's start.
    assert logs["covered_until"] == T0 + timedelta(days=1)
    assert logs["lag_seconds"] == timedelta(days=2).total_seconds()
    assert logs["pending_partitions"] == 1
    assert (logs["last_run_status"], logs["last_run_ended_at"]) == ("partial", T0 + timedelta(minutes=5))
    members = status["members"]
    assert (members["rows"], members["removed"], members["newest"]) == (1, 1, T0)  # last seen, then removed
    assert status["executions"]["rows"] == 0 and status["executions"]["covered_until"] is None


def test_status_of_an_empty_file_does_not_fail(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with Warehouse.open_read_only(path) as wh:
        assert all(s["rows"] == 0 and s["last_run_status"] is None for s in wh.status(T0))


def test_a_warehouse_open_for_writing_elsewhere_is_locked(filled: Path) -> None:
    with writer_in_another_process(filled) as child:
        with pytest.raises(RunLockedError, match=rf"in use by process {child.pid}") as caught:
            Warehouse.open_read_only(filled)
        assert "\n" not in str(caught.value)
        with pytest.raises(RunLockedError):
            Warehouse.open(filled, ABSTRA_TABLES)
    with Warehouse.open_read_only(filled) as wh:  # released when the writer dies
        assert wh.query("SELECT count(*) FROM members")[1] == [(1,)]
