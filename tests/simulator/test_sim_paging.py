"""Paging over real HTTP returns exactly the ground truth: no entry lost, none doubled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from harvester.simulator import SimulatorServer
from harvester.timeutil import format_wire

from .helpers import call, day, page_all, small_config, window

pytestmark = pytest.mark.anyio

MS = timedelta(milliseconds=1)


@pytest.fixture
async def served() -> AsyncIterator[tuple[SimulatorServer, aiohttp.ClientSession]]:
    async with SimulatorServer(small_config()) as server, aiohttp.ClientSession() as session:
        yield server, session


def _order_key(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["createdAt"], entry["id"]


async def test_chain_returns_ground_truth_inclusive_of_both_ends(served: Any) -> None:
    server, session = served
    org = server.sim.org
    start, end = day("2025-05-10"), day("2025-05-17")
    # guarantee entries exactly on both boundaries, and a tie on the lower one
    org.inject("connector_action_logs", 2, created_at=start)
    org.inject("connector_action_logs", 1, created_at=end)
    entries, pages = await page_all(
        session, server.endpoint, "get_connector_action_logs", {**window(start, 7), "limit": 97}
    )
    truth = list(org.log_entries("connector_action_logs", start, end + MS))
    assert pages > 10
    assert [e["id"] for e in entries] == [e["id"] for e in truth]
    assert len({e["id"] for e in entries}) == len(entries)
    assert entries == sorted(entries, key=_order_key, reverse=True)
    stamps = {e["createdAt"] for e in entries}
    assert format_wire(start) in stamps and format_wire(end) in stamps


async def test_adjacent_inclusive_windows_share_only_the_boundary(served: Any) -> None:
    server, session = served
    boundary = day("2025-05-20")
    server.sim.org.inject("ai_prompt_logs", 1, created_at=boundary)
    left, _ = await page_all(session, server.endpoint, "get_ai_prompt_logs", window(boundary - timedelta(days=1), 1))
    right, _ = await page_all(session, server.endpoint, "get_ai_prompt_logs", window(boundary, 1))
    shared = {e["id"] for e in left} & {e["id"] for e in right}
    assert shared and all(e["createdAt"] == format_wire(boundary) for e in left if e["id"] in shared)


async def test_every_stream_pages_to_its_ground_truth(served: Any) -> None:
    server, session = served
    org = server.sim.org
    start = day("2025-05-25")
    pids = [p.id for p in org.projects]
    actions = {
        "organization_action_logs": "get_organization_action_logs",
        "project_action_logs": "get_project_action_logs",
        "auth_attempt_logs": "get_auth_attempt_logs",
        "email_notification_logs": "get_email_notification_logs",
        "connector_action_logs": "get_connector_action_logs",
        "ai_prompt_logs": "get_ai_prompt_logs",
    }
    for stream, action in actions.items():
        params: dict[str, Any] = {**window(start, 3), "limit": 100}
        if stream == "project_action_logs":
            params["projectIds"] = pids
        entries, _ = await page_all(session, server.endpoint, action, params)
        truth = list(org.log_entries(stream, start, start + timedelta(days=3) + MS))
        assert entries == truth, stream
        assert entries, stream


async def test_project_ids_and_filters_select_the_matching_entries(served: Any) -> None:
    server, session = served
    org = server.sim.org
    start, end = day("2025-05-05"), day("2025-05-12")
    truth_end = end + MS
    some = [p.id for p in org.projects[:2]]
    entries, _ = await page_all(
        session, server.endpoint, "get_project_action_logs", {**window(start, 7), "projectIds": some, "limit": 50}
    )
    expected = [e for e in org.log_entries("project_action_logs", start, truth_end) if e["projectId"] in some]
    assert entries == expected and entries
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("get_connector_action_logs", "connector_action_logs", {"errored": True, "source": "api"}),
        ("get_auth_attempt_logs", "auth_attempt_logs", {"status": "success", "projectId": some[0]}),
        ("get_email_notification_logs", "email_notification_logs", {"kind": "received"}),
        ("get_organization_action_logs", "organization_action_logs", {"event": "addUser"}),
        ("get_ai_prompt_logs", "ai_prompt_logs", {"errored": False}),
    ]
    for action, stream, filters in cases:
        entries, _ = await page_all(session, server.endpoint, action, {**window(start, 7), **filters, "limit": 20})
        expected = [
            e for e in org.log_entries(stream, start, truth_end) if all(e.get(k) == v for k, v in filters.items())
        ]
        assert entries == expected and entries, action


async def test_arrivals_between_pages_do_not_shift_the_chain(served: Any) -> None:
    server, session = served
    org = server.sim.org
    start = day("2025-05-15")
    params = {**window(start, 2), "limit": 40}
    truth = [e["id"] for e in org.log_entries("auth_attempt_logs", start, start + timedelta(days=2) + MS)]
    seen: list[str] = []
    cursor = None
    while True:
        _, body = await call(
            session, server.endpoint, "get_auth_attempt_logs", {**params, **({"cursor": cursor} if cursor else {})}
        )
        seen += [e["id"] for e in body["data"]["entries"]]
        # newer than everything already paged, inside the window: must not shift later pages
        org.inject("auth_attempt_logs", 3, created_at=start + timedelta(days=2))
        cursor = body["data"]["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(truth) <= set(seen)


async def test_missing_and_malformed_entries_are_served_where_their_good_self_was() -> None:
    config = small_config(malformed_rate=0.05, missing_id_rate=0.05)
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        org = server.sim.org
        start, end = day("2025-05-20"), day("2025-05-23")
        entries, _ = await page_all(session, server.endpoint, "get_connector_action_logs", {**window(start, 3)})
        good = list(org.log_entries("connector_action_logs", start, end + MS))
        bad = list(org.malformed_entries("connector_action_logs", start, end + MS))
        assert len(entries) == len(good) + len(bad)
        assert bad and any(not isinstance(b, dict) for b in bad)
        assert [e for e in entries if e in good] == good
        assert any(isinstance(e, dict) and "id" not in e and "createdAt" in e for e in good)
        kinds = {type(b).__name__ for b in bad}
        assert kinds & {"str", "int"} and "dict" in kinds


async def test_executions_offset_paging_reaches_total_count(served: Any) -> None:
    server, session = served
    org = server.sim.org
    start, end = day("2025-05-01"), day("2025-05-31")
    for project in org.projects[:2]:
        got: list[dict[str, Any]] = []
        total = None
        while total is None or len(got) < total:
            _, body = await call(
                session,
                server.endpoint,
                "get_project_executions",
                {"projectId": project.id, **window(start, 30), "limit": 17, "offset": len(got)},
            )
            total = body["data"]["totalCount"]
            page = body["data"]["executions"]
            assert page or len(got) == total
            got += page
        truth = sorted(
            (e for e in org.executions(start, end + MS) if e.pop("projectId") == project.id),
            key=_order_key,
            reverse=True,
        )
        assert got == truth and total == len(truth) > 0
        assert set(got[0]) == {"id", "status", "buildId", "stageId", "stageName", "createdAt"}


async def test_recent_executions_run_until_the_clock_moves() -> None:
    now = day("2025-05-31") + timedelta(hours=12)
    async with SimulatorServer(small_config(clock=now)) as server, aiohttp.ClientSession() as session:
        pid = server.sim.org.projects[0].id
        injected = server.sim.inject("executions", 2, created_at=now - timedelta(minutes=2), project_id=pid)
        params = {"projectId": pid, "from": format_wire(now - timedelta(hours=1)), "to": format_wire(now)}
        _, body = await call(session, server.endpoint, "get_project_executions", params)
        by_id = {e["id"]: e for e in body["data"]["executions"]}
        assert all(by_id[e["id"]]["status"] == "running" for e in injected)
        server.sim.set_clock(now + timedelta(minutes=30))
        _, body = await call(session, server.endpoint, "get_project_executions", params)
        assert {e["status"] for e in body["data"]["executions"]} <= {"finished", "failed"}


async def test_consumption_sums_counters_and_keeps_last_gauges(served: Any) -> None:
    server, session = served
    org = server.sim.org
    pid = org.projects[1].id
    start = day("2025-05-10")
    _, one = await call(session, server.endpoint, "get_project_consumption", {"projectId": pid, **window(start, 1)})
    flat = org.consumption_for_day(pid, start)
    assert one["data"]["cpu"]["seconds"] == flat["cpu.seconds"]
    assert one["data"]["tables"]["rows"] == flat["tables.rows"]
    _, two = await call(session, server.endpoint, "get_project_consumption", {"projectId": pid, **window(start, 2)})
    second = org.consumption_for_day(pid, start + timedelta(days=1))
    assert two["data"]["aiPrompts"]["count"] == flat["aiPrompts.count"] + second["aiPrompts.count"]
    assert two["data"]["files"]["storageBytes"] == second["files.storageBytes"]
    assert two["data"]["projectId"] == pid


async def test_snapshots_match_the_organization_and_members_change(served: Any) -> None:
    server, session = served
    org = server.sim.org
    _, body = await call(session, server.endpoint, "get_organization")
    assert body["data"] == org.organization()
    project_ids = [p["id"] for f in body["data"]["folders"] for p in f["projects"]]
    assert len(project_ids) == 5
    for action in (
        "list_project_tables",
        "list_project_connectors",
        "list_project_forms_and_pages",
        "get_project_abstra_json",
    ):
        _, body = await call(session, server.endpoint, action, {"projectId": project_ids[0]})
        assert body["data"] == org.inventory(action, project_ids[0])
    folder = org.folders[0].id
    _, added = await call(session, server.endpoint, "add_member", {"email": "new@acme.example", "folderIds": [folder]})
    assert added["data"]["email"] == "new@acme.example" and added["data"]["folders"] == [folder]
    _, members = await call(session, server.endpoint, "get_members")
    assert "new@acme.example" in {m["email"] for m in members["data"]}
    status, again = await call(session, server.endpoint, "add_member", {"email": "new@acme.example"})
    assert status == 400 and "already exists" in again["message"]
    await call(session, server.endpoint, "remove_member", {"email": "new@acme.example"})
    _, members = await call(session, server.endpoint, "get_members")
    assert members["data"] == org.members() and len(members["data"]) == 8
    server.sim.remove_project(project_ids[0])
    _, body = await call(session, server.endpoint, "get_organization")
    assert project_ids[0] not in {p["id"] for f in body["data"]["folders"] for p in f["projects"]}
