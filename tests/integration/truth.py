"""Comparing a warehouse with the simulator's ground truth, table by table."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from harvester.planner import day_slices
from harvester.records import content_id
from harvester.simulator import Org
from harvester.sources.abstra.records import flatten_metrics
from harvester.sources.abstra.streams import LOG_STREAM_ACTIONS

__all__ = ["assert_matches_truth", "expected_log_ids", "table_ids"]


def _query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        return con.execute(sql, params or []).fetchall()


def table_ids(path: Path, table: str) -> Counter[str]:
    """Every id in a table with its multiplicity (a duplicate shows as a count of 2)."""
    return Counter(r[0] for r in _query(path, f'select id from "{table}"'))


def expected_log_ids(org: Org, stream: str, start: datetime, end: datetime) -> set[str]:
    return {e["id"] if "id" in e else content_id(e) for e in org.log_entries(stream, start, end)}


def _assert_unique(ids: Counter[str], table: str) -> None:
    dups = [i for i, n in ids.items() if n > 1]
    assert not dups, f"{table}: {len(dups)} duplicated ids, e.g. {dups[:3]}"


def assert_logs_match(path: Path, org: Org, start: datetime, end: datetime) -> None:
    for stream in LOG_STREAM_ACTIONS:
        got = table_ids(path, stream)
        _assert_unique(got, stream)
        want = expected_log_ids(org, stream, start, end)
        missing, extra = want - set(got), set(got) - want
        assert not missing and not extra, f"{stream}: {len(missing)} missing, {len(extra)} extra"


def assert_executions_match(path: Path, org: Org, start: datetime, end: datetime) -> None:
    got_ids = table_ids(path, "executions")
    _assert_unique(got_ids, "executions")
    got = {r[0]: (r[1], r[2]) for r in _query(path, "select id, status, project_id from executions")}
    want = {e["id"]: (e["status"], e["projectId"]) for e in org.executions(start, end)}
    assert got == want, f"executions: {len(set(want) - set(got))} missing, {len(set(got) - set(want))} extra"


def assert_consumption_matches(
    path: Path, org: Org, start: datetime, end: datetime, period_days: int
) -> None:
    got = Counter(
        (r[0], r[1], r[2], r[3])
        for r in _query(path, "select project_id, period_start, metric, value from consumption")
    )
    want: Counter[tuple[str, datetime, str, float]] = Counter()
    for project in org.projects:
        for s, e in day_slices(start, end, period_days):
            for metric, value in flatten_metrics(org.consumption(project.id, s, e)):
                want[(project.id, s, metric, value)] += 1
    assert got == want, f"consumption: {sum((want - got).values())} missing, {sum((got - want).values())} extra"


def assert_snapshots_match(path: Path, org: Org) -> None:
    members = {m["id"] for m in org.members()}
    assert set(table_ids(path, "members")) == members
    projects = {p["id"] for f in org.organization()["folders"] for p in f["projects"]}
    live = {r[0] for r in _query(path, "select id from projects where removed_at is null")}
    assert live == projects
    for table, action, key in (
        ("project_tables", "list_project_tables", "tables"),
        ("project_connectors", "list_project_connectors", "connections"),
    ):
        want = {(p, i["id"]) for p in projects for i in org.inventory(action, p)[key]}
        got = set(_query(path, f"select project_id, id from {table} where removed_at is null"))
        assert got == want, f"{table}: {len(want - got)} missing, {len(got - want)} extra"
    abstra = {r[0] for r in _query(path, "select project_id from project_abstra_json")}
    assert abstra == projects


def assert_matches_truth(
    path: Path, org: Org, start: datetime, end: datetime, *, consumption_days: int = 1
) -> None:
    """The whole warehouse equals what the simulator holds for `[start, end)`."""
    assert_logs_match(path, org, start, end)
    assert_executions_match(path, org, start, end)
    assert_consumption_matches(path, org, start, end, consumption_days)
    assert_snapshots_match(path, org)
