"""The simulator's `custom` action and connections, over real loopback HTTP.

A harvest of each fake upstream service, paged by hand with the harvester's own
paging classes and request builder, lands exactly that service's ground truth; the
seed's examples come back from the echo service as the seed states them; every
SSRF spelling is refused by the simulator too, with no upstream request; each of
the seed's errors arrives with its message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from harvester.pages import Reject
from harvester.simulator import SimulatorServer
from harvester.simulator.upstream import SERVICES
from harvester.sources.custom import (
    CustomStream,
    build_parameters,
    format_window,
    page_records,
    paging_for,
    record_row,
)
from harvester.sources.custom.records import parse_time
from tests.sources.custom.seed_examples import SEED_EXAMPLES, SeedExample
from tests.sources.custom.spellings import SPELLINGS

from .helpers import call, small_config

pytestmark = pytest.mark.anyio

BAD_URL = 'Bad Request: The "custom" action requires "_url" (a full http:// or https:// URL)'

STREAMS: dict[str, dict[str, Any]] = {
    "cursor": {"records": "data.items", "id": "id", "time": "created_at", "query": {"limit": 25},
               "paging": {"kind": "cursor", "param": "after", "next": "meta.next_cursor"}},
    "page": {"records": "tickets", "id": "ticket_id", "time": "opened_at",
             "paging": {"kind": "page", "param": "page", "size_param": "per_page"}},
    "offset": {"records": "results", "id": "uid", "time": "ts",
               "paging": {"kind": "offset", "param": "offset", "size_param": "limit", "total": "total"}},
    "next_url": {"records": "events", "id": "id", "time": "at", "query": {"limit": 10},
                 "paging": {"kind": "next_url", "next": "links.next"}},
    "none": {"records": "", "time": "joined"},
    "window": {"records": "logs", "id": "log_id", "time": "created_at", "slice_days": 7,
               "paging": {"kind": "cursor", "param": "cursor", "next": "next"},
               "window": {"from": "since", "to": "until", "format": "iso"}},
    "epoch": {"records": "activity", "id": "activity_id", "time": "time_ms", "slice_days": 10,
              "paging": {"kind": "page", "param": "page", "size_param": "count"},
              "window": {"from": "start", "to": "end", "format": "epoch_s"}},
}


def _stream(service: str, connection: str = "sim-github") -> CustomStream:
    return CustomStream(name=service, connection=connection, url=SERVICES[service], **STREAMS[service])


@pytest.fixture
async def served() -> AsyncIterator[tuple[SimulatorServer, aiohttp.ClientSession]]:
    async with SimulatorServer(small_config()) as server, aiohttp.ClientSession() as session:
        yield server, session


async def _custom(served: Any, params: dict[str, Any], connection: str = "sim-github") -> tuple[int, Any]:
    server, session = served
    return await call(session, server.endpoint, "custom", params, connection=connection)


async def _harvest(served: Any, stream: CustomStream, window: dict[str, Any] | None = None) -> list[Any]:
    """One chain, as the runner will walk it; the rows of every page."""
    paging = paging_for(stream, None, 20)
    rows: list[Any] = []
    while not paging.done:
        status, body = await _custom(served, build_parameters(stream, paging.params(), window), stream.connection)
        assert status == 200 and body["status"] == "success", body
        records = page_records(body["data"], stream.records)
        rows += [record_row(r, stream) for r in records]
        paging.advance(len(records), body["data"])
    assert not [r for r in rows if isinstance(r, Reject)]
    return rows


def _expected(stream: CustomStream, truth: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    return [(row["id"], row["created_at"]) for row in map(lambda r: record_row(r, stream), truth)]  # type: ignore[index]


@pytest.mark.parametrize("service", ["cursor", "page", "offset", "next_url", "none"])
async def test_each_paging_kind_lands_exactly_the_ground_truth(served: Any, service: str) -> None:
    server, _ = served
    stream = _stream(service)
    rows = await _harvest(served, stream)
    truth = server.sim.upstream.truth(service)
    assert len(truth) >= 12
    assert [(r["id"], r["created_at"]) for r in rows] == _expected(stream, truth)
    assert len({r["id"] for r in rows}) == len(truth)
    assert all(r["connection"] == "sim-github" and r["created_at"] is not None for r in rows)


@pytest.mark.parametrize("service", ["window", "epoch"])
async def test_windowed_services_land_each_slice_and_the_whole_history(served: Any, service: str) -> None:
    server, _ = served
    stream = _stream(service)
    assert stream.window is not None
    config = server.sim.config
    everything: list[Any] = []
    lo = config.history_start
    while lo < config.end:
        hi = min(lo + timedelta(days=stream.slice_days), config.end)
        window = {stream.window.from_: format_window(lo, stream.window.format),
                  stream.window.to: format_window(hi, stream.window.format)}
        rows = await _harvest(served, stream, window)
        assert [(r["id"], r["created_at"]) for r in rows] == _expected(stream, server.sim.upstream.truth(service, lo, hi))
        everything += rows
        lo = hi
    truth = _expected(stream, server.sim.upstream.truth(service))
    assert sorted((r["id"], r["created_at"]) for r in everything) == sorted(truth)  # slices run oldest first
    assert len(everything) > 60


def _on_echo(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(netloc="echo.test"))


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: e.name)
async def test_seed_examples_reach_upstream_as_the_seed_states(served: Any, example: SeedExample) -> None:
    expected = {"method": example.method, "url": _on_echo(example.url), "headers": example.headers,
                "body": example.body}
    for params in (example.literal, example.built):
        status, body = await _custom(served, {**params, "_url": _on_echo(params["_url"])})
        assert (status, body) == (200, {"status": "success", "data": expected})


@pytest.mark.parametrize("url", SPELLINGS)
async def test_every_ssrf_spelling_is_refused_by_the_simulator_without_a_request(served: Any, url: str) -> None:
    server, _ = served
    status, body = await _custom(served, {"_url": url})
    assert status == 400
    assert body["message"].startswith('Bad Request: The "custom" action cannot target the internal IP ')
    assert not server.sim.upstream.received
    assert server.sim.stats["custom.calls"] == 1


async def test_a_blocked_literal_names_the_address(served: Any) -> None:
    for url, address in (("http://0x7f.1/", "127.0.0.1"), ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254"),
                         ("http://[fd00::5]/", "fd00::5")):
        assert await _custom(served, {"_url": url}) == (400, {
            "status": "error", "message": f'Bad Request: The "custom" action cannot target the internal IP {address}'})


@pytest.mark.parametrize("params", [{}, {"_url": "ftp://files.test/a"}, {"_url": "api.example.com/v1"},
                                    {"_url": 12}, {"_url": "https://"}])
async def test_a_missing_or_non_http_url_is_the_seed_error(served: Any, params: dict[str, Any]) -> None:
    assert await _custom(served, params) == (400, {"status": "error", "message": BAD_URL})


async def test_a_database_connection_does_not_support_custom(served: Any) -> None:
    status, body = await _custom(served, {"_url": SERVICES["none"]}, connection="sim-postgres")
    assert (status, body["message"]) == (400, 'Connector "postgres" does not support the "custom" action.')


async def test_actions_belong_to_their_connections(served: Any) -> None:
    server, session = served
    assert await call(session, server.endpoint, "get_members", connection="sim-github") == (
        400, {"status": "error", "message": "Unknown action 'get_members'"})
    assert await call(session, server.endpoint, "custom", {"_url": SERVICES["none"]}) == (
        400, {"status": "error", "message": "Unknown action 'custom'"})


async def test_upstream_non_2xx_is_an_error_carrying_status_and_body(served: Any) -> None:
    server, _ = served
    server.sim.upstream.script_errors([429, 500])
    for code, text in ((429, "API rate limit exceeded"), (500, "Internal Server Error")):
        status, body = await _custom(served, {"_url": SERVICES["none"]})
        assert status == 400
        assert body == {"status": "error",
                        "message": f'Request failed with status code {code}: {{"message": "{text}", "status": {code}}}'}
    status, body = await _custom(served, {"_url": "https://status.test/503"})
    assert body["message"] == 'Request failed with status code 503: {"message": "status 503"}'
    status, body = await _custom(served, {"_url": SERVICES["cursor"], "_query": {"after": "bogus!"}})
    assert body["message"] == 'Request failed with status code 400: {"message": "invalid cursor"}'
    status, body = await _custom(served, {"_url": SERVICES["window"], "_query": {
        "since": "2025-01-01T00:00:00.000Z", "until": "2025-03-01T00:00:00.000Z"}})
    assert body["message"] == 'Request failed with status code 400: {"message": "the window cannot exceed 31 days"}'
    assert len(server.sim.upstream.received) == 5


async def test_an_unknown_host_is_a_lookup_error(served: Any) -> None:
    assert await _custom(served, {"_url": "https://api.nowhere.test/x"}) == (
        400, {"status": "error", "message": "getaddrinfo ENOTFOUND api.nowhere.test"})


async def test_random_upstream_errors_show_their_status() -> None:
    async with SimulatorServer(small_config(upstream_error_rate=1.0)) as server, aiohttp.ClientSession() as session:
        for _ in range(8):
            status, body = await call(session, server.endpoint, "custom", {"_url": SERVICES["none"]},
                                      connection="sim-pages")
            assert status == 400
            assert body["message"].split(":", 1)[0] in {f"Request failed with status code {c}" for c in (429, 500, 502, 503)}


async def test_times_in_the_truth_match_what_the_services_write(served: Any) -> None:
    server, _ = served
    for service, field, expected in (("page", "opened_at", int), ("offset", "ts", int), ("cursor", "created_at", str)):
        record = server.sim.upstream.truth(service)[0]
        assert isinstance(record[field], expected)
        assert server.sim.config.history_start <= parse_time(record[field]) < server.sim.config.end


# --- discovery --------------------------------------------------------------------------


async def _get(served: Any, path: str, token: str | None = "sim-token") -> tuple[int, Any]:
    server, session = served
    headers = {"Api-Authorization": f"Bearer {token}"} if token else {}
    async with session.get(server.endpoint + "/cli/connectors/" + path, headers=headers) as response:
        return response.status, await response.json()


async def test_discovery_lists_the_connections(served: Any) -> None:
    assert await _get(served, "connections") == (200, [
        {"name": "abstra-manager", "connectionType": "abstra-manager"},
        {"name": "sim-github", "connectionType": "github"},
        {"name": "sim-pages", "connectionType": "http_api"},
        {"name": "sim-postgres", "connectionType": "postgres"},
    ])


async def test_discovery_lists_actions_with_search_and_pages(served: Any) -> None:
    status, body = await _get(served, "connection/abstra-manager/actions")
    assert status == 200 and len(body["data"]) == 16 and "get_connector_action_logs" in body["data"]
    assert (body["page"], body["pageSize"]) == (1, 50)
    _, logs = await _get(served, "connection/abstra-manager/actions?search=LOGS")
    assert len(logs["data"]) == 6 and all("logs" in n for n in logs["data"])
    _, last = await _get(served, "connection/abstra-manager/actions?page=4&pageSize=5")
    assert last == {"data": body["data"][15:], "page": 4, "pageSize": 5}
    assert (await _get(served, "connection/sim-github/actions"))[1]["data"] == ["custom"]
    assert (await _get(served, "connection/sim-postgres/actions"))[1]["data"] == ["run_query"]
    assert (await _get(served, "connection/sim-github/actions?page=0"))[0] == 400


async def test_discovery_describes_an_action(served: Any) -> None:
    status, custom = await _get(served, "connection/sim-pages/action/custom")
    assert status == 200 and custom["name"] == "custom"
    assert custom["payloadSchema"]["required"] == ["_url"]
    assert set(custom["payloadSchema"]["properties"]) == {"_url", "_method", "_query", "_body", "_headers"}
    _, executions = await _get(served, "connection/abstra-manager/action/get_project_executions")
    assert executions["payloadSchema"]["required"] == ["projectId", "from", "to"]
    assert await _get(served, "connection/sim-github/action/get_members") == (
        404, {"status": "error", "message": "Action 'get_members' not found"})


async def test_discovery_needs_the_token_and_a_known_connection(served: Any) -> None:
    for token in (None, "wrong"):
        assert await _get(served, "connections", token=token) == (
            401, {"status": "error", "message": "Unauthorized: invalid API token"})
    assert await _get(served, "connection/nope/actions") == (
        404, {"status": "error", "message": "Connection 'nope' not found"})
