"""Scripted and random faults look on the wire the way the brief describes them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
import pytest

from harvester.simulator import LOG_STREAMS, Simulator, SimulatorServer

from .helpers import call, day, small_config, url_for, window

pytestmark = pytest.mark.anyio

LOGS = "get_connector_action_logs"


@pytest.fixture
async def served() -> AsyncIterator[tuple[SimulatorServer, aiohttp.ClientSession]]:
    async with SimulatorServer(small_config(hang_seconds=0.5)) as server, aiohttp.ClientSession() as session:
        yield server, session


async def _raw(
    session: aiohttp.ClientSession, endpoint: str, action: str, params: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    body = orjson.dumps({"connectionName": "abstra-manager", "actionName": action, "parameters": params})
    headers = {"Api-Authorization": "Bearer sim-token"}
    async with session.post(url_for(endpoint), data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_429_variants_carry_retry_after(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["http_429", "http_429_zero", "http_429_date"])
    status, headers, _ = await _raw(session, server.endpoint, "get_members", {})
    assert (status, headers["Retry-After"]) == (429, "1")
    status, headers, _ = await _raw(session, server.endpoint, "get_members", {})
    assert (status, headers["Retry-After"]) == (429, "0")
    status, headers, _ = await _raw(session, server.endpoint, "get_members", {})
    assert status == 429
    ahead = (parsedate_to_datetime(headers["Retry-After"]) - datetime.now(UTC)).total_seconds()
    assert 0 < ahead <= 2.5
    status, _, _ = await _raw(session, server.endpoint, "get_members", {})
    assert status == 200  # the script is used up
    assert server.sim.stats["faults"] == 3 and server.sim.stats["faults.http_429_zero"] == 1


async def test_5xx_statuses_and_gateway_pages(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["http_500", "http_502", "http_503", "http_504"])
    seen = [await _raw(session, server.endpoint, "get_members", {}) for _ in range(4)]
    assert [s for s, _, _ in seen] == [500, 502, 503, 504]
    assert seen[1][1]["Content-Type"].startswith("text/html")
    assert orjson.loads(seen[2][2])["status"] == "error"


async def test_resets_before_and_after_headers(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["reset_before_headers", "reset_after_headers"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _raw(session, server.endpoint, "get_members", {})
    with pytest.raises(aiohttp.ClientPayloadError):
        await _raw(session, server.endpoint, "get_members", {})
    status, _, _ = await _raw(session, server.endpoint, "get_members", {})
    assert status == 200


async def test_timeout_hangs_then_serves(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["timeout", "timeout"])
    with pytest.raises(TimeoutError):
        async with session.post(
            url_for(server.endpoint),
            data=orjson.dumps({"actionName": "get_members"}),
            headers={"Api-Authorization": "Bearer sim-token"},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as response:
            await response.read()
    started = time.monotonic()
    status, _, _ = await _raw(session, server.endpoint, "get_members", {})
    assert status == 200 and time.monotonic() - started >= 0.45


async def test_truncated_json_and_html_200(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["truncated_json", "html_200"])
    status, headers, body = await _raw(session, server.endpoint, "get_organization", {})
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    status, headers, body = await _raw(session, server.endpoint, "get_organization", {})
    assert status == 200 and headers["Content-Type"].startswith("text/html") and body.startswith(b"<!DOCTYPE html>")


async def test_empty_page_with_cursor_resumes_where_it_was(served: Any) -> None:
    server, session = served
    params = {**window(day("2025-05-10"), 1), "limit": 10}
    _, honest = await call(session, server.endpoint, LOGS, params)
    server.sim.faults.script(["empty_page_with_cursor"])
    _, empty = await call(session, server.endpoint, LOGS, params)
    assert empty["data"]["entries"] == [] and empty["data"]["nextCursor"]
    _, resumed = await call(session, server.endpoint, LOGS, {**params, "cursor": empty["data"]["nextCursor"]})
    assert resumed == honest


async def test_cursor_loop_returns_the_cursor_sent_in(served: Any) -> None:
    server, session = served
    params = {**window(day("2025-05-10"), 1), "limit": 10}
    _, first = await call(session, server.endpoint, LOGS, params)
    cursor = first["data"]["nextCursor"]
    server.sim.faults.script(["cursor_loop"])
    _, looped = await call(session, server.endpoint, LOGS, {**params, "cursor": cursor})
    assert looped["data"]["nextCursor"] == cursor and len(looped["data"]["entries"]) == 10


async def test_total_count_drift_only_bends_executions(served: Any) -> None:
    server, session = served
    params = {"projectId": server.sim.org.projects[0].id, **window(day("2025-05-01"), 30)}
    _, honest = await call(session, server.endpoint, "get_project_executions", params)
    server.sim.faults.script(["total_count_drift"])
    _, drifted = await call(session, server.endpoint, "get_project_executions", params)
    assert drifted["data"]["totalCount"] != honest["data"]["totalCount"]
    assert drifted["data"]["executions"] == honest["data"]["executions"]
    server.sim.faults.script(["total_count_drift"])  # does not fit get_members: used up, ignored
    status, _ = await call(session, server.endpoint, "get_members")
    assert status == 200 and server.sim.faults.pending == 0 and server.sim.stats["faults_ignored"] == 1


async def test_script_limited_to_actions_waits_for_them(served: Any) -> None:
    server, session = served
    server.sim.faults.script(["http_503"], actions=[LOGS])
    status, _ = await call(session, server.endpoint, "get_members")
    assert status == 200 and server.sim.faults.pending == 1
    status, _ = await call(session, server.endpoint, LOGS, window(day("2025-05-10"), 1))
    assert status == 503


async def test_random_faults_and_rate_limit() -> None:
    config = small_config(fault_rate=1.0, fault_kinds=["http_502"])
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        statuses = [(await call_status(session, server.endpoint)) for _ in range(5)]
        assert statuses == [502] * 5
    # one request every 2 s, bursts of 1: six quick requests mostly bounce even on a slow machine
    async with SimulatorServer(small_config(rate_limit_rps=0.5)) as server, aiohttp.ClientSession() as session:
        statuses = [(await call_status(session, server.endpoint)) for _ in range(6)]
        assert statuses.count(429) >= 3 and statuses[0] == 200
        assert server.sim.stats["rate_limited"] == statuses.count(429)


async def call_status(session: aiohttp.ClientSession, endpoint: str) -> int:
    async with session.post(
        url_for(endpoint), data=b'{"actionName":"get_members"}', headers={"Api-Authorization": "Bearer sim-token"}
    ) as response:
        await response.read()
        if response.status == 429:
            assert int(response.headers["Retry-After"]) >= 1
        return response.status


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Simulator(small_config()).faults.script(["http_418"])


async def test_shutdown_with_a_request_hanging_is_prompt() -> None:
    async with aiohttp.ClientSession() as session:
        async with SimulatorServer(small_config()) as server:  # hang_seconds defaults to 30
            server.sim.faults.script(["timeout"])
            pending = asyncio.create_task(call(session, server.endpoint, "get_members"))
            await asyncio.sleep(0.1)
            started = time.monotonic()
        assert time.monotonic() - started < 5
        with pytest.raises(aiohttp.ClientError):
            await pending


async def test_latency_and_arrivals_per_request() -> None:
    config = small_config(latency_ms=100, arrivals_per_request=2, end=datetime.now(UTC) + timedelta(days=1))
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        started = time.monotonic()
        for _ in range(3):
            status, _ = await call(session, server.endpoint, "get_members")
            assert status == 200
        assert time.monotonic() - started >= 0.3
        assert server.sim.stats["arrivals"] == 6
        since = datetime.now(UTC) - timedelta(minutes=1)
        recent = sum(len(list(server.sim.org.log_entries(s, since, since + timedelta(minutes=2)))) for s in LOG_STREAMS)
        assert recent >= 6
