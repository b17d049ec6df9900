"""Kills, faults and live arrivals: the warehouse still equals ground truth."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import anyio

from harvester.runner import Backfill, Incremental, harvest
from harvester.simulator.config import DEFAULT_EVENTS_PER_DAY
from harvester.timeutil import floor_day, utc_now

from .conftest import START, SimFactory, make_settings
from .truth import assert_matches_truth, table_ids

TRANSIENT_FAULTS = [
    "http_429", "http_429_zero", "http_429_date", "http_500", "http_502", "http_503", "http_504",
    "reset_before_headers", "reset_after_headers", "timeout", "truncated_json", "html_200",
]
CURSOR_FAULTS = ["empty_page_with_cursor", "cursor_loop"]
ALL_FAULTS = [*TRANSIENT_FAULTS, *CURSOR_FAULTS, "total_count_drift"]


def test_transient_faults_are_survived_and_change_nothing(simulator: SimFactory, tmp_path: Path) -> None:
    """429 (seconds, 0, HTTP date), 500/502/503/504, resets before and after headers,
    timeouts, truncated JSON, an HTML 200 page, an empty page with a cursor, a cursor
    that does not move and a drifting totalCount, each at least once and then at an 8%
    rate: the run ends ok and the warehouse equals ground truth."""
    end = START + timedelta(days=35)
    server = simulator(
        projects=4, start=START, end=end, events_per_day={k: 5 * v for k, v in DEFAULT_EVENTS_PER_DAY.items()},
        fault_rate=0.08, fault_kinds=ALL_FAULTS, hang_seconds=2,
    )
    # Each scripted fault is followed by clean replies, so its retry succeeds at once
    # (back-to-back faults on one request would only test the backoff's patience).
    server.sim.faults.script([k for kind in TRANSIENT_FAULTS for k in (kind, "none", "none", "none")])
    server.sim.faults.script(CURSOR_FAULTS, actions=["get_connector_action_logs"])
    server.sim.faults.script(["total_count_drift"], actions=["get_project_executions"])
    path = tmp_path / "w.duckdb"
    settings = make_settings(server, path, max_retries=12, abstra={"timeout_seconds": 1.0}, page_size=400)
    report = anyio.run(harvest, settings, Backfill(START, end))
    assert report.status == "ok", report.failures
    assert sum(report.rows.values()) >= 100_000
    for kind in ALL_FAULTS:
        assert server.sim.stats.get(f"faults.{kind}", 0) >= 1, kind
    assert_matches_truth(path, server.sim.org, START, end)


def test_entries_arriving_during_a_run_land_in_the_next_incremental_run(
    simulator: SimFactory, tmp_path: Path
) -> None:
    """New log entries and executions created after a run started are picked up by the
    next `run`, from the high-water mark minus lookback; nothing is doubled."""
    end = utc_now()
    start = floor_day(end) - timedelta(days=4)
    server = simulator(projects=3, start=start, end=end, arrivals_per_request=1)
    path = tmp_path / "w.duckdb"
    settings = make_settings(server, path, start=start, lookback="10m")
    first = anyio.run(harvest, settings, Incremental())
    assert first.status == "ok"
    assert server.sim.stats.get("arrivals", 0) > 0, "entries arrived while the first run was paging"
    injected = server.sim.inject("auth_attempt_logs", 3) + server.sim.inject("project_action_logs", 2)
    time.sleep(0.01)
    second = anyio.run(harvest, settings, Incremental())
    assert second.status == "ok"
    for entry in injected:
        stream = "auth_attempt_logs" if "email" in entry and "status" in entry else "project_action_logs"
        assert table_ids(path, stream)[entry["id"]] == 1
    # Everything created before the second run started is there, exactly once.
    assert_matches_truth(path, server.sim.org, start, second.started_at)


def test_a_cursor_loop_is_stopped_reported_and_resumed_by_the_next_run(simulator: SimFactory, tmp_path: Path) -> None:
    """A server that keeps answering with the cursor it was given never spins the run:
    the chain stops with a clear error, every other partition lands, the run exits
    partial, and the next run completes the window from its checkpoint."""
    end = START + timedelta(days=5)
    server = simulator(projects=2, start=START, end=end)
    server.sim.faults.script(["cursor_loop"] * 8, actions=["get_connector_action_logs"])
    path = tmp_path / "w.duckdb"
    settings = make_settings(server, path, page_size=100)
    first = anyio.run(harvest, settings, Backfill(START, end))
    assert first.status == "partial"
    assert first.errors["connector_action_logs"] == 1
    assert any("cursor loop" in f for f in first.failures), first.failures
    assert first.rows["auth_attempt_logs"] > 0, "other partitions landed"
    second = anyio.run(harvest, settings, Backfill(START, end))
    assert second.status == "ok", second.failures
    assert_matches_truth(path, server.sim.org, START, end)
