"""The automations simulator over real loopback HTTP: paging, truth, refusals, faults, mutations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from harvester.records import content_id
from harvester.sources.automations.records import Built, automation_id_of, list_items
from harvester.sources.automations.simulator import (
    ROUTES,
    AutomationsServer,
    AutomationsSimulator,
)
from harvester.sources.automations.tables import TABLES

from .helpers import TOKEN, get, read_all, read_everything, small_config, workspace_url

pytestmark = pytest.mark.anyio

WORKSPACES = ["ws-1", "ws-2"]
TABLE = {t.name: t for t in TABLES}


@pytest.fixture
async def served() -> AsyncIterator[tuple[AutomationsServer, aiohttp.ClientSession]]:
    async with AutomationsServer(small_config(hang_seconds=0.5)) as server, aiohttp.ClientSession() as session:
        yield server, session


def as_truth(read: dict[str, Built]) -> dict[str, dict[Any, dict[str, Any]]]:
    """Rows from records.py in truth()'s shape: keyed by the table key, raw parsed."""
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    for name, table in TABLE.items():
        keyed = out.setdefault(name, {})
        for row in read.get(name, Built()).rows:
            key = tuple(row[k] for k in table.key)
            extra = {"removed": False} if table.is_snapshot else {}
            keyed[key[0] if len(key) == 1 else key] = {**row, "raw": orjson.loads(orjson.dumps(row["raw"])), **extra}
    return out


async def test_a_full_read_through_every_page_lands_exactly_truth(served: Any) -> None:
    server, session = served
    read = await read_everything(session, server.endpoint, WORKSPACES, page_size=3)
    truth = server.sim.truth()
    assert as_truth(read) == truth
    automations = truth["automations"].values()
    # the data has every case a harvester must handle
    assert len(truth["automations"]) == 24 and any(a["delete_time"] for a in automations)
    assert len(truth["automation_schedules"]) < 24 and len({k for k, _ in truth["automation_triggers"]}) < 24
    assert any(k.startswith("sha256:") for k in truth["automation_default_inputs"])
    assert any(r["remaining_occurrences"] is not None for r in truth["automation_schedules"].values())
    assert server.sim.mutating_calls == 0


async def test_list_automations_is_newest_first_and_hides_deleted_by_default(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    status, first = await get(session, url)
    assert status == 200 and len(first["automations"]) == 10 and "next_page_token" in first  # the seed's default 10
    shown, pages = await read_all(session, url, {"page_size": "5"})
    everything, _ = await read_all(session, url, {"page_size": "5", "show_deleted": "true"})
    assert pages == 3 and all("delete_time" not in a for a in shown)
    assert {a["name"] for a in everything} - {a["name"] for a in shown} == {
        a["name"] for a in everything if "delete_time" in a
    } != set()
    times = [(a["update_time"], automation_id_of(a)) for a in everything]
    assert times == sorted(times, reverse=True)


async def test_page_size_is_coerced_to_1000_and_negative_is_invalid() -> None:
    config = small_config(workspaces=["ws-1"], automations_per_workspace=1003, max_revisions=1)
    async with AutomationsServer(config) as server, aiohttp.ClientSession() as session:
        url = workspace_url(server.endpoint)
        status, body = await get(session, url, {"page_size": "5000", "show_deleted": "true"})
        assert status == 200 and len(body["automations"]) == 1000 and body["next_page_token"]
        status, body = await get(session, url, {"page_size": "-1"})
        assert (status, body["error"]["status"], body["error"]["message"]) == (
            400, "INVALID_ARGUMENT", "page_size must not be negative"
        )


async def test_a_page_token_is_bound_to_its_query(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    _, body = await get(session, url, {"page_size": "2", "show_deleted": "true"})
    status, error = await get(session, url, {"page_size": "2", "page_token": body["next_page_token"]})
    assert status == 400 and "belongs to another query" in error["error"]["message"]
    status, error = await get(session, url, {"page_token": "not-a-token"})
    assert status == 400 and error["error"]["message"] == "page_token is not one this API issued"


async def test_no_schedule_unknown_automation_and_unknown_workspace_are_404(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    truth = server.sim.truth()
    without = next(i for i in truth["automations"] if i not in truth["automation_schedules"])
    status, body = await get(session, f"{url}/{without}/schedule")
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND") and "has no schedule" in body["error"]["message"]
    assert (await get(session, f"{url}/nope/triggers"))[0] == 404
    assert (await get(session, workspace_url(server.endpoint, "ws-9")))[0] == 404
    assert (await get(session, workspace_url(server.endpoint, org="org-9")))[0] == 404


async def test_an_automation_without_triggers_lists_an_empty_object(served: Any) -> None:
    server, session = served
    truth = server.sim.truth()
    with_triggers = {aid for aid, _ in truth["automation_triggers"]}
    without = next(i for i in truth["automations"] if i not in with_triggers)
    ws = truth["automations"][without]["workspace_id"]
    assert await get(session, f"{workspace_url(server.endpoint, ws)}/{without}/triggers") == (200, {})  # AIP omits it


async def test_default_inputs_last_page_has_an_empty_token(served: Any) -> None:
    """The seed: next_page_token "Empty if no more results" for this list."""
    server, session = served
    truth = server.sim.truth()
    aid = next(r["automation_id"] for r in truth["automation_default_inputs"].values())
    ws = truth["automations"][aid]["workspace_id"]
    status, body = await get(session, f"{workspace_url(server.endpoint, ws)}/{aid}:listDefaultInputsHistory")
    assert status == 200 and body["next_page_token"] == "" and body["default_inputs_history"]


async def test_get_automation_and_revision_return_the_listed_objects(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    listed, _ = await read_all(session, url, {"show_deleted": "true"})
    deleted = next(a for a in listed if "delete_time" in a)
    assert await get(session, f"{url}/{automation_id_of(deleted)}") == (200, deleted)  # soft-deleted: still there
    revisions, _ = await read_all(session, f"{url}/{automation_id_of(deleted)}/revisions")
    newest = revisions[0]
    rev_id = newest["name"].rsplit("/", 1)[-1]
    assert await get(session, f"{url}/{automation_id_of(deleted)}/revisions/{rev_id}") == (200, newest)


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_reads_need_the_bearer_token(served: Any, token: str | None) -> None:
    server, session = served
    status, body = await get(session, workspace_url(server.endpoint), token=token)
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED")
    assert TOKEN not in orjson.dumps(body).decode()
    assert server.sim.stats["http_401"] == 1


async def test_every_mutating_route_is_refused_and_counted(served: Any) -> None:
    server, session = served
    before = server.sim.truth()
    refused = [(m, t, n) for m, t, n in ROUTES if m != "GET"]
    assert len(refused) >= 15
    base = workspace_url(server.endpoint)
    for method, template, _ in refused:
        url = base + template.format(automation_id="abc", revision_id="1.0")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with session.request(method, url, json={}, headers=headers) as response:
            assert response.status == 405 and response.headers["Allow"] == "GET", (method, template)
    stats = server.sim.stats
    assert stats["mutating"] == len(refused) == server.sim.mutating_calls
    assert all(stats[f"mutating.{name}"] == 1 for _, _, name in refused)
    assert {"invoke_automation", "delete_automation_schedule", "enable_automation_schedule",
            "add_automation_connections", "delete_workspace_connection"} <= {n for _, _, n in refused}
    assert server.sim.truth() == before


async def test_calls_are_counted_per_route_and_automation(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    listed, _ = await read_all(session, url)
    a, b = (automation_id_of(x) for x in listed[:2])
    for aid in (a, a, b):
        await read_all(session, f"{url}/{aid}/triggers")
    assert server.sim.calls_for("list_automation_triggers") == {a: 2, b: 1}
    assert server.sim.stats["route.list_automation_triggers"] == 3
    server.sim.reset_counters()
    assert server.sim.calls_for("list_automation_triggers") == {} and server.sim.stats == {}


async def test_transport_faults_are_served(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    server.sim.faults.script(["http_429", "http_503", "reset_before_headers"], actions=["list_automations"])
    async with session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert (response.status, response.headers["Retry-After"]) == (429, "1")
    assert (await get(session, url))[0] == 503
    # a raw socket: aiohttp would silently retry a GET whose connection dropped
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(f"GET {url.split(str(server.port), 1)[1]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    assert await reader.read() == b""  # the connection closed before any byte of a reply
    writer.close()
    assert (await get(session, url))[0] == 200
    assert server.sim.stats["faults"] == 3 and server.sim.stats["faults.http_503"] == 1


async def test_data_faults_bend_good_replies(served: Any) -> None:
    server, session = served
    url = workspace_url(server.endpoint)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    server.sim.faults.script(["truncated_json"], actions=["get_automation_schedule", "list_automations"])
    async with session.get(url, headers=headers) as response:
        text = await response.read()
    assert response.status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    # an empty page that points at itself, then a page whose token loops back
    params = {"page_size": "4"}
    _, clean = await get(session, url, params)
    server.sim.faults.script(["empty_page_with_cursor", "cursor_loop"], actions=["list_automations"])
    status, empty = await get(session, url, params)
    assert status == 200 and list_items(empty)[0] == [] and empty["next_page_token"]
    status, again = await get(session, url, {**params, "page_token": empty["next_page_token"]})
    assert again["automations"] == clean["automations"]
    assert again["next_page_token"] == empty["next_page_token"]  # the loop a harvester must notice
    assert server.sim.stats["faults.cursor_loop"] == 1


async def test_mutate_changes_exactly_what_it_reports() -> None:
    async with AutomationsServer(small_config()) as server, aiohttp.ClientSession() as session:
        sim = server.sim
        before = as_truth(await read_everything(session, server.endpoint, WORKSPACES))
        mutation = sim.mutate(changed=4, deleted=2, purged=2, created=2)
        after_read = as_truth(await read_everything(session, server.endpoint, WORKSPACES))
        truth = sim.truth()
        old, new = before["automations"], after_read["automations"]
        moved = {i for i in new if i not in old or new[i]["update_time"] != old[i]["update_time"]}
        assert moved == mutation.reread and len(moved) == 8
        assert set(mutation.purged) == set(old) - set(new) and len(mutation.purged) == 2
        assert all(new[i]["delete_time"] is not None for i in mutation.deleted)
        # truth: purged automations removed with their last values; deleted ones still there
        assert {i for i, r in truth["automations"].items() if r["removed"]} == set(mutation.purged)
        assert all(truth["automations"][i] == {**old[i], "removed": True} for i in mutation.purged)
        for name, table in TABLE.items():
            current = {k: r for k, r in truth[name].items() if not r.get("removed")}
            if table.is_snapshot:
                assert current == after_read[name], name
            else:  # immutable: what a read now sees, plus the purged automations' entries
                assert truth[name] == {**before[name], **after_read[name]}, name
        revisions = truth["automation_revisions"]
        purged_revisions = [k for k, r in revisions.items() if r["automation_id"] in mutation.purged]
        assert purged_revisions and not set(purged_revisions) & set(after_read["automation_revisions"])
        gone_schedules = {k for k, r in truth["automation_schedules"].items() if r["removed"]}
        assert gone_schedules == (set(before["automation_schedules"]) - set(after_read["automation_schedules"]))
        assert sim.mutating_calls == 0


def test_same_seed_same_platform_other_seed_other_platform() -> None:
    one, two = AutomationsSimulator(small_config()).truth(), AutomationsSimulator(small_config()).truth()
    assert one == two
    assert AutomationsSimulator(small_config(seed=1)).truth()["automations"].keys() != one["automations"].keys()
    a, b = AutomationsSimulator(small_config()), AutomationsSimulator(small_config())
    assert a.mutate(5) == b.mutate(5) and a.truth() == b.truth()


def test_default_inputs_without_id_are_keyed_by_content_hash() -> None:
    truth = AutomationsSimulator(small_config()).truth()["automation_default_inputs"]
    hashed = [(k, r) for k, r in truth.items() if "id" not in r["raw"]]
    assert hashed and all(k == content_id(r["raw"]) for k, r in hashed)
