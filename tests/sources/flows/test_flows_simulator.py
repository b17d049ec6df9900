"""The flows simulator over real loopback HTTP: counts and logs equal its truth in every
reply shape, the query rules of seed 003, auth, the webhook receiver, and its faults."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import ValidationError

from harvester.sources.flows.records import (
    count_rows,
    log_entries,
    log_row,
    merge_error_reads,
)
from harvester.sources.flows.simdata import (
    COUNT_FORMS,
    COUNT_WRAPPERS,
    GROUPINGS,
    LOG_SHAPES,
    FlowsSimConfig,
    FlowsWorld,
)
from harvester.sources.flows.simulator import FlowsServer

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Bearer sim-token"}
TODAY = date(2025, 6, 1)
DAYS = [TODAY - timedelta(days=n) for n in range(6)] + [TODAY + timedelta(days=1)]  # one day past the history
SHAPES = [f"{w}.{f}" if w else f for w in ("", *COUNT_WRAPPERS) for f in COUNT_FORMS]


def _config(**overrides: Any) -> FlowsSimConfig:
    return FlowsSimConfig(**{"days": 5, "today": TODAY, **overrides})


async def _get(
    session: aiohttp.ClientSession, url: str, query: dict[str, str] | str | None = None, headers: Any = AUTH
) -> tuple[int, Any]:
    async with session.get(url, params=query, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def _day_counts(session: aiohttp.ClientSession, endpoint: str, day: date, group_by: str) -> dict[str, int]:
    query = {"start": day.isoformat(), "end": day.isoformat(), "groupby": group_by}
    status, reply = await _get(session, endpoint + "/icenter/executions", query)
    assert status == 200, reply
    items = count_rows(reply, day, group_by)
    assert not isinstance(items, str), items
    return {key: n for key, n, _ in items}


async def _tenant_rows(session: aiohttp.ClientSession, endpoint: str, tenant: str) -> dict[str, dict[str, Any]]:
    """What a harvester would store for one tenant: both reads, merged, as rows."""
    reads = []
    for extra in ({}, {"showErrors": "true"}):
        status, reply = await _get(session, endpoint + "/logs", {"filter[tenant]": tenant, **extra})
        assert status == 200, reply
        entries = log_entries(reply)
        assert not isinstance(entries, str), entries
        reads.append(entries)
    rows = {}
    for entry, is_error in merge_error_reads(*reads):
        row = log_row(entry, tenant, is_error)
        assert not isinstance(row, str), row
        rows[row["id"]] = {k: row[k] for k in ("tenant", "flow_id", "step_id", "created_at", "is_error")}
    return rows


@pytest.fixture
async def served() -> AsyncIterator[tuple[FlowsServer, aiohttp.ClientSession]]:
    async with FlowsServer(_config(hang_seconds=0.2)) as server, aiohttp.ClientSession() as session:
        yield server, session


@pytest.mark.parametrize("shape", SHAPES)
async def test_daily_counts_equal_truth_in_every_shape(shape: str) -> None:
    async with FlowsServer(_config(counts_shape=shape)) as server, aiohttp.ClientSession() as session:
        truth = server.sim.truth(DAYS).counts
        got = {
            (day, g, key): n
            for day in DAYS
            for g in GROUPINGS
            for key, n in (await _day_counts(session, server.endpoint, day, g)).items()
        }
    assert got == truth
    assert {g for _, g, _ in truth} == set(GROUPINGS) and len(truth) > 20


async def test_ranges_are_inclusive_and_default_to_a_month_by_user(served: Any) -> None:
    server, session = served
    truth = server.sim.truth(DAYS).counts
    url = server.endpoint + "/icenter/executions"

    def total(days: list[date], group_by: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for (day, g, key), n in truth.items():
            if day in days and g == group_by:
                out[key] = out.get(key, 0) + n
        return out

    status, reply = await _get(session, url, {"start": "2025-05-30", "end": "2025-06-01", "groupby": "flow"})
    assert (status, reply) == (200, total([date(2025, 5, 30), date(2025, 5, 31), TODAY], "flow"))
    status, reply = await _get(session, url)  # a month back from today, by user: the whole 5-day history
    assert (status, reply) == (200, total(DAYS, "user"))
    status, reply = await _get(session, url + "?groupby=%20component&start=2025-06-01")  # the seed's ' component'
    assert (status, reply) == (200, total([TODAY], "component"))
    status, reply = await _get(session, url, {"start": "2024-01-01", "end": "2024-01-31"})
    assert (status, reply) == (200, {})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2025-6-1"}, "start '2025-6-1' is not a date: use YYYY-MM-DD"),
        ({"end": "2025-02-30"}, "end '2025-02-30' is not a date: use YYYY-MM-DD"),
        ({"groupby": "tenant"}, "groupby 'tenant' is not supported: use user, flow or component"),
        ({"start": "2025-06-02", "end": "2025-06-01"}, "start is after end"),
    ],
)
async def test_bad_count_queries_get_400_with_reason(served: Any, query: dict[str, str], message: str) -> None:
    server, session = served
    assert await _get(session, server.endpoint + "/icenter/executions", query) == (400, {"message": message})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "sim-token"}])
@pytest.mark.parametrize("path", ["/icenter/executions", "/logs?filter[tenant]=tenant-1"])
async def test_reads_need_the_bearer_token(served: Any, headers: dict[str, str], path: str) -> None:
    server, session = served
    status, reply = await _get(session, server.endpoint + path, headers=headers)
    assert status == 401 and "Bearer" in reply["message"] and "wrong" not in reply["message"]
    assert server.sim.stats["http_401"] == 1 and "ok" not in server.sim.stats


@pytest.mark.parametrize(("shape", "style"), [(s, "camel") for s in LOG_SHAPES] + [("data", "snake")])
async def test_logs_of_every_tenant_equal_truth(shape: str, style: str) -> None:
    async with FlowsServer(_config(logs_shape=shape, log_style=style)) as server, aiohttp.ClientSession() as session:
        got: dict[str, dict[str, Any]] = {}
        for tenant in server.sim.config.tenants:
            got |= await _tenant_rows(session, server.endpoint, tenant)
        truth = server.sim.truth(DAYS).logs
    assert got == truth
    rows = list(truth.values())
    assert any(r["is_error"] for r in rows) and not all(r["is_error"] for r in rows)
    assert any(r["created_at"] is None for r in rows) and any(k.startswith("sha256:") for k in truth)


async def test_log_filters_and_show_errors(served: Any) -> None:
    server, session = served
    url = server.endpoint + "/logs"
    truth = server.sim.truth(DAYS).logs
    mine = [r for r in truth.values() if r["tenant"] == "tenant-1"]
    flow, step = mine[0]["flow_id"], mine[0]["step_id"]
    cases = [
        ({"filter[flowId]": flow}, [r for r in mine if r["flow_id"] == flow]),
        ({"filter[stepId]": step}, [r for r in mine if r["step_id"] == step]),
        ({"showErrors": "true"}, [r for r in mine if r["is_error"]]),
        ({"filter[flowId]": flow, "showErrors": "true"}, [r for r in mine if r["flow_id"] == flow and r["is_error"]]),
        ({"filter[flowId]": "no-such-flow"}, []),
    ]
    for query, expected in cases:
        status, reply = await _get(session, url, {"filter[tenant]": "tenant-1", **query})
        assert status == 200
        assert [(e["flowId"], e["stepId"]) for e in reply["data"]] == [(r["flow_id"], r["step_id"]) for r in expected]
        assert all((e["level"] == "error") == bool(query.get("showErrors")) for e in reply["data"]) or not query.get(
            "showErrors"
        )
    assert await _get(session, url, {"filter[tenant]": "nobody"}) == (200, {"data": []})
    assert await _get(session, url) == (400, {"message": "filter[tenant] is required"})
    assert server.sim.stats["route.logs"] == len(cases) + 2


async def test_injected_error_logs_show_in_reads_and_truth(served: Any) -> None:
    server, session = served
    before = await _tenant_rows(session, server.endpoint, "tenant-2")
    new = server.sim.world.inject_logs("tenant-2", 3, errors=True)
    after = await _tenant_rows(session, server.endpoint, "tenant-2")
    assert set(after) - set(before) == {e.key for e in new}
    assert all(after[e.key]["is_error"] for e in new)
    assert {k: v for k, v in server.sim.truth(DAYS).logs.items() if v["tenant"] == "tenant-2"} == after
    with pytest.raises(ValueError, match="unknown tenant 'x': the config has tenant-1, tenant-2"):
        server.sim.world.inject_logs("x", 1)


async def test_webhook_records_posts_and_fails_on_demand(served: Any) -> None:
    server, session = served
    url = server.endpoint + "/webhooks/{}"
    hooks = server.sim.webhooks
    hooks.fail_next(2)
    statuses = []
    for n in range(3):
        async with session.post(url.format("flow-a"), json={"alert_id": "a1", "try": n}) as response:
            statuses.append(response.status)
    async with session.post(url.format("flow-b"), json={"alert_id": "b1"}) as response:
        statuses.append(response.status)
    async with session.post(url.format("flow-b"), data=b"{not json") as response:
        statuses.append(response.status)
    assert statuses == [500, 500, 200, 200, 400]
    assert hooks.received("flow-a") == [{"alert_id": "a1", "try": 2}]
    assert hooks.received() == [{"alert_id": "a1", "try": 2}, {"alert_id": "b1"}]
    assert server.sim.stats["route.webhook"] == 5 and server.sim.stats["http_500"] == 2


async def test_webhook_takes_a_large_alert(served: Any) -> None:
    server, session = served
    document = {"alert_id": "big", "examples": [{"raw": "x" * 2000, "n": n} for n in range(1000)]}
    body = io.BytesIO(orjson.dumps(document))  # 2 MB, past aiohttp's default 1 MB request limit
    async with session.post(server.endpoint + "/webhooks/f", data=body) as response:
        assert response.status == 200
    assert server.sim.webhooks.received("f") == [document]


async def test_scripted_faults_on_the_read_routes(served: Any) -> None:
    server, session = served
    url = server.endpoint + "/logs?filter[tenant]=tenant-1"
    server.sim.faults.script(["http_429", "http_503", "truncated_json", "html_200"], actions=["logs"])
    status, reply = await _get(session, server.endpoint + "/icenter/executions")  # not a logs call: unharmed
    assert status == 200 and reply
    async with session.get(url, headers=AUTH) as response:
        assert (response.status, response.headers["Retry-After"]) == (429, "1")
    async with session.get(url, headers=AUTH) as response:
        assert response.status == 503
    async with session.get(url, headers=AUTH) as response:
        body = await response.read()
        assert response.status == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
    async with session.get(url, headers=AUTH) as response:
        assert (response.status, response.content_type) == (200, "text/html")
    assert (await _get(session, url))[0] == 200
    stats = server.sim.stats
    assert (stats["faults"], stats["faults.http_429"], stats["route.logs"], stats["route.executions"]) == (4, 1, 5, 1)


async def test_resets_and_hangs(served: Any) -> None:
    server, session = served
    url = server.endpoint + "/icenter/executions"
    # aiohttp resends an idempotent GET once when the server drops it, so it takes two resets
    server.sim.faults.script(["reset_before_headers", "reset_before_headers", "reset_after_headers", "timeout"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _get(session, url)
    with pytest.raises(aiohttp.ClientPayloadError):
        await _get(session, url)
    with pytest.raises(TimeoutError):
        async with session.get(url, headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.05)) as response:
            await response.read()
    assert (await _get(session, url))[0] == 200


async def test_random_faults_follow_the_rate() -> None:
    config = _config(fault_rate=1.0, fault_kinds=("http_500",))
    async with FlowsServer(config) as server, aiohttp.ClientSession() as session:
        statuses = [(await _get(session, server.endpoint + "/icenter/executions"))[0] for _ in range(3)]
    assert statuses == [500, 500, 500]


def test_config_refuses_what_it_cannot_serve() -> None:
    with pytest.raises(ValidationError, match="counts_shape 'body.list': use \\[wrapper.\\]form"):
        FlowsSimConfig(counts_shape="body.list")
    with pytest.raises(ValidationError, match="logs_shape 'entries': choose from list, data, logs, items, results"):
        FlowsSimConfig(logs_shape="entries")
    with pytest.raises(ValidationError, match="fault kind 'cursor_loop' does not apply here"):
        FlowsSimConfig(fault_kinds=("cursor_loop",))


def test_same_seed_same_data_and_users_can_be_named() -> None:
    first, again = (FlowsSimConfig(seed=3, users=("ana@acme.example", "bo@acme.example")) for _ in range(2))
    days = [TODAY - timedelta(days=n) for n in range(30)]
    a, b = FlowsWorld(first).truth(days), FlowsWorld(again).truth(list(reversed(days)))
    assert a == b
    assert {key for _, g, key in a.counts if g == "user"} == {"ana@acme.example", "bo@acme.example"}
    assert FlowsWorld(FlowsSimConfig(seed=4)).truth(days) != a


async def _answers(endpoint: str) -> int:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                return (await _get(session, endpoint + "/logs?filter[tenant]=tenant-1"))[0]
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("the flows simulator process never answered")


def test_serve_runs_until_interrupted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = f"from harvester.sources.flows.simulator import serve; serve(port={port}, print_fn=None)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert asyncio.run(_answers(f"http://127.0.0.1:{port}")) == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr.decode()[-2000:]
