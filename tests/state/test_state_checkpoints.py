"""Partition state: registering, resuming, pending, covered-until, reset; and run records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harvester.errors import CheckpointError
from harvester.pages import Checkpoint, PageWrite
from harvester.planner import Partition
from harvester.sources.abstra.plan import plan_backfill
from harvester.sources.abstra.streams import ALL_STREAMS
from sinks import Warehouse
from state.runs import last_run

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def advance(wh: Warehouse, partition: Partition, table: str, **checkpoint: Any) -> None:
    wh.commit_pages([PageWrite(partition, table, [], Checkpoint(partition.key, **checkpoint))])


def test_registering_returns_fresh_checkpoints_then_the_stored_ones(warehouse: Warehouse) -> None:
    a = Partition("auth_attempt_logs", T0, T0 + DAY)
    b = Partition("executions", T0, T0 + DAY, ("p1",))
    assert warehouse.register_partitions("r1", [a, b, a]) == {
        a.key: Checkpoint(a.key),
        b.key: Checkpoint(b.key),
    }
    advance(warehouse, a, "auth_attempt_logs", cursor="c7", pages=7, rows=3500)
    advance(warehouse, b, "executions", offset=100, done=True, pages=1, rows=100)
    again = warehouse.register_partitions("r2", [a, b])  # a re-planned backfill resumes
    assert again[a.key] == Checkpoint(a.key, cursor="c7", pages=7, rows=3500)
    assert again[b.key] == Checkpoint(b.key, offset=100, done=True, pages=1, rows=100)


def test_registering_a_large_plan_is_one_statement(warehouse: Warehouse) -> None:
    projects = [f"p{i}" for i in range(60)]
    plan = plan_backfill([ALL_STREAMS["consumption"]], T0, T0 + 90 * DAY, projects)
    assert len(plan) == 5400
    checkpoints = warehouse.register_partitions("r1", plan)
    assert len(checkpoints) == 5400 and not any(c.done for c in checkpoints.values())
    assert len(warehouse.pending_partitions()) == 5400


def test_pending_partitions_come_back_with_their_checkpoints(warehouse: Warehouse) -> None:
    done = Partition("auth_attempt_logs", T0, T0 + DAY)
    open_ = Partition("project_action_logs", T0 + DAY, T0 + 2 * DAY, ("p1", "p2"))
    warehouse.register_partitions("r1", [done, open_])
    advance(warehouse, done, "auth_attempt_logs", done=True)
    advance(warehouse, open_, "project_action_logs", cursor="next", pages=2)
    pending = warehouse.pending_partitions()
    assert pending == [(open_, Checkpoint(open_.key, cursor="next", pages=2))]
    assert pending[0][0].key == open_.key


def test_covered_until_unnests_project_batches(warehouse: Warehouse) -> None:
    warehouse.register_partitions(
        "r1",
        [
            Partition("auth_attempt_logs", T0, T0 + DAY),
            Partition("auth_attempt_logs", T0 + DAY, T0 + 3 * DAY),
            Partition("project_action_logs", T0, T0 + 2 * DAY, ("p1", "p2")),
            Partition("project_action_logs", T0 + 2 * DAY, T0 + 5 * DAY, ("p2",)),
            Partition("executions", T0, T0 + DAY, ("p1",)),
        ],
    )
    assert warehouse.covered_until() == {
        ("auth_attempt_logs", ""): T0 + 3 * DAY,
        ("project_action_logs", "p1"): T0 + 2 * DAY,
        ("project_action_logs", "p2"): T0 + 5 * DAY,
        ("executions", "p1"): T0 + DAY,
    }


def test_reset_forgets_the_cursor_and_reopens_the_chain(warehouse: Warehouse) -> None:
    p = Partition("auth_attempt_logs", T0, T0 + DAY)
    warehouse.register_partitions("r1", [p])
    advance(warehouse, p, "auth_attempt_logs", cursor="stale", offset=0, pages=4, rows=2000, done=True)
    assert warehouse.reset_partition(p.key) is True
    assert warehouse.register_partitions("r2", [p])[p.key] == Checkpoint(p.key, pages=4, rows=2000)
    assert warehouse.reset_partition("unknown") is False


def test_a_state_row_edited_by_hand_is_reported(warehouse: Warehouse) -> None:
    p = Partition("auth_attempt_logs", T0, T0 + DAY)
    warehouse.register_partitions("r1", [p])
    warehouse._connection().execute("UPDATE _partitions SET \"end\" = \"end\" + INTERVAL 1 DAY")
    with pytest.raises(CheckpointError, match="does not match"):
        warehouse.pending_partitions()


def test_checkpoints_carry_the_current_run(warehouse: Warehouse) -> None:
    p = Partition("auth_attempt_logs", T0, T0 + DAY)
    warehouse.register_partitions("r1", [p])
    warehouse.start_run("r2", "run", T0)
    advance(warehouse, p, "auth_attempt_logs", cursor="c")
    assert warehouse._connection().execute("SELECT run_id FROM _partitions").fetchall() == [("r2",)]


def test_runs_are_recorded_start_to_finish(warehouse: Warehouse) -> None:
    warehouse.start_run("r1", "backfill 2025-01-01T00:00:00.000Z 2025-02-01T00:00:00.000Z", T0)
    con = warehouse._connection()
    assert last_run(con) is not None and last_run(con)["status"] == "running"  # type: ignore[index]
    stats = {"rows": {"auth_attempt_logs": 10}, "errors": {}, "at": T0}
    warehouse.finish_run("r1", "ok", T0 + DAY, stats)
    run = last_run(con)
    assert run == {
        "run_id": "r1",
        "command": "backfill 2025-01-01T00:00:00.000Z 2025-02-01T00:00:00.000Z",
        "started_at": T0,
        "ended_at": T0 + DAY,
        "status": "ok",
        "stats": {"rows": {"auth_attempt_logs": 10}, "errors": {}, "at": "2025-01-01T00:00:00Z"},
    }


def test_the_latest_started_run_is_the_last_run(warehouse: Warehouse) -> None:
    warehouse.start_run("r1", "run", T0)
    warehouse.start_run("r2", "run", T0 + DAY)
    warehouse.finish_run("r1", "failed", T0 + 2 * DAY, {})
    assert last_run(warehouse._connection())["run_id"] == "r2"  # type: ignore[index]


def test_finishing_an_unknown_run_still_records_it(warehouse: Warehouse) -> None:
    warehouse.finish_run("ghost", "failed", T0, {"why": "no start"})
    assert last_run(warehouse._connection())["status"] == "failed"  # type: ignore[index]
