"""The demo organization looks like a real one through the README's first example query:
current members log in with their own emails, some fail, all act in their projects."""

from __future__ import annotations

from pathlib import Path

import anyio

from harvester.demo import demo_config, demo_settings
from harvester.examples import MEMBER_ACTIVITY
from harvester.runner import Backfill, harvest
from harvester.simulator import Org, run_in_thread
from sinks import Warehouse

# the demo's organization (40 projects, 13 members), over the 35 days the example queries look at
DAYS = 35


def _harvest_demo_members(path: Path) -> Org:
    config = demo_config(days=DAYS)
    with run_in_thread(config) as server:
        settings = demo_settings(server.endpoint, config.token, path, config.history_start)
        streams = ("auth_attempt_logs", "project_action_logs", "organization_action_logs", "members")
        anyio.run(harvest, settings, Backfill(config.history_start, config.end, streams))
        return server.sim.org


def test_current_members_log_in_fail_sometimes_act_and_some_have_left(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    org = _harvest_demo_members(path)
    with Warehouse.open_read_only(path) as warehouse:
        _, members = warehouse.query("select email from members where removed_at is null")
        _, logged_in = warehouse.query(
            "select distinct a.email from auth_attempt_logs a join members m on a.email = m.email "
            "where a.status = 'success' and m.removed_at is null"
        )
        columns, rows = warehouse.query(MEMBER_ACTIVITY)
        _, removed = warehouse.query(
            "select email from organization_action_logs where event = 'removeUser' order by created_at"
        )
        _, failing_outsiders = warehouse.query(
            "select count(*) from auth_attempt_logs a where a.status <> 'success' "
            "and a.email not in (select email from members)"
        )
    current = {m["email"] for m in org.members()}
    assert {r[0] for r in members} == current and len(current) == 13
    assert len(logged_in) >= 0.8 * len(current), f"only {len(logged_in)} of {len(current)} members logged in"

    row = dict(zip(columns, zip(*rows, strict=True), strict=True))
    with_login = sum(v is not None for v in row["last_login"])
    assert with_login >= 0.8 * len(rows), f"README query: last_login empty for {len(rows) - with_login} rows"
    assert sum(n > 0 for n in row["failed_logins_30d"]) >= len(rows) // 2
    assert sum(n > 0 for n in row["actions_30d"]) >= 0.8 * len(rows)

    former = [m.email for m in org.initial_members if m.left_at is not None]
    assert former and [r[0] for r in removed] == sorted(former, key=lambda e: _left_at(org, e))
    assert not set(former) & current
    assert failing_outsiders[0][0] > 0  # probes and former members still try


def _left_at(org: Org, email: str) -> str:
    return next(m.left_at or "" for m in org.initial_members if m.email == email)


def test_members_act_only_in_the_projects_of_their_folders_and_only_while_members() -> None:
    config = demo_config(days=DAYS, projects=12)
    org = Org(config)
    people = {m.author_id: m for m in org.initial_members}
    folder_of = {p.id: p.folder_id for p in org.projects}
    checked = 0
    for entry in org.log_entries("project_action_logs", config.history_start, config.end):
        member = people[entry["authorId"]]
        day = entry["createdAt"][:10]
        assert folder_of[entry["projectId"]] in member.folders or not any(
            folder_of[entry["projectId"]] in m.folders for m in org.initial_members
        )
        assert member.joined_at is None or member.joined_at[:10] < day
        assert member.left_at is None or day < member.left_at[:10]
        checked += 1
    assert checked > 1000
