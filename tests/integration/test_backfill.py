"""A backfill lands exactly the simulator's ground truth, in every table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import duckdb

from harvester.records import raw_text
from harvester.runner import Backfill, Incremental, harvest
from harvester.timeutil import floor_day, utc_now

from .conftest import START, SimFactory, make_settings
from .truth import assert_matches_truth, table_ids

END = START + timedelta(days=124)  # 4 full 31-day slices
LOG_STREAMS = ("organization_action_logs", "project_action_logs", "auth_attempt_logs",
               "email_notification_logs", "connector_action_logs", "ai_prompt_logs")


def test_backfill_of_250_projects_over_124_days_equals_ground_truth(simulator: SimFactory, tmp_path: Path) -> None:
    """≥250 projects (3 batches of project logs), ≥120 days (4 slices): every table equals
    ground truth, no id twice, snapshots right. Boundary entries at slice edges included."""
    server = simulator(
        projects=260, folders=6, members=30, start=START, end=END, executions_per_project_per_day=0.4,
        events_per_day={"organization_action_logs": 8, "project_action_logs": 120, "auth_attempt_logs": 20,
                        "email_notification_logs": 15, "connector_action_logs": 60, "ai_prompt_logs": 10},
    )
    path = tmp_path / "w.duckdb"
    settings = make_settings(server, path, consumption_period_days=31, page_size=300)
    report = anyio.run(harvest, settings, Backfill(START, END))
    assert report.status == "ok", report.failures
    assert server.sim.stats["action.get_project_action_logs"] >= 3 * 4  # 3 batches x 4 slices at least
    assert_matches_truth(path, server.sim.org, START, END, consumption_days=31)
    for stream in LOG_STREAMS:  # plain entries: SQL typed every page, none needed the Python builder
        assert report.typed[stream] == report.pages[stream] > 0, stream
    took = (utc_now() - report.started_at).total_seconds()
    assert 0 < report.stats()["writer_seconds"] <= took, "the writer's busy time is part of the run"


def test_a_second_backfill_of_the_same_range_adds_nothing(simulator: SimFactory, tmp_path: Path) -> None:
    """Idempotent: the same backfill twice, then an incremental run on top, land every row once."""
    end = utc_now()
    start = floor_day(end) - timedelta(days=20)
    server = simulator(projects=5, start=start, end=end)
    path = tmp_path / "w.duckdb"
    settings = make_settings(server, path, start=start)
    anyio.run(harvest, settings, Backfill(start, end))
    assert_matches_truth(path, server.sim.org, start, end)
    before = {t: table_ids(path, t) for t in ("project_action_logs", "executions", "auth_attempt_logs")}
    second = anyio.run(harvest, settings, Backfill(start, end))
    windowed = ("project_action_logs", "executions", "auth_attempt_logs", "consumption")
    assert not any(second.pages[s] for s in windowed), "a finished backfill re-fetches no windowed page"
    anyio.run(harvest, settings, Incremental())
    for table, ids in before.items():
        assert table_ids(path, table) == ids


def test_malformed_entries_land_in_rejects_and_the_rest_of_their_page_lands(
    simulator: SimFactory, tmp_path: Path
) -> None:
    """Each malformed entry becomes one `_rejects` row with a reason; every good entry
    (keyless ones by content hash) lands."""
    end = START + timedelta(days=10)
    server = simulator(projects=4, start=START, end=end, malformed_rate=0.03, missing_id_rate=0.03)
    path = tmp_path / "w.duckdb"
    report = anyio.run(harvest, make_settings(server, path), Backfill(START, end))
    assert report.status == "ok", report.failures
    assert_matches_truth(path, server.sim.org, START, end)
    assert report.typed["connector_action_logs"] < report.pages["connector_action_logs"], "bad pages read in Python"
    org = server.sim.org
    with duckdb.connect(str(path), read_only=True) as con:
        for stream in ("project_action_logs", "connector_action_logs"):
            # `to` is inclusive on the wire, so the window's end instant is served too.
            bad = {raw_text(b) for b in org.malformed_entries(stream, START, end + timedelta(milliseconds=1))}
            assert bad, "the simulator served malformed entries"
            got = {r[0] for r in con.execute("select raw from _rejects where stream = ?", [stream]).fetchall()}
            assert got == bad
            reasons = {r[0] for r in con.execute("select reason from _rejects where stream = ?", [stream]).fetchall()}
            assert all(reasons), "every reject says why"
            keyless = con.execute(f"select count(*) from {stream} where id like 'sha256:%'").fetchone()[0]
            assert keyless > 0
