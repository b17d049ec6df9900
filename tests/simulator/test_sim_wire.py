"""The wire contract of API_NOTES: auth, connection, actions, refusals and their messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from harvester.simulator import SimConfig, SimulatorServer

from .helpers import call, day, small_config, url_for, window

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[400, 200], ids=["errors-as-400", "errors-as-200"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimulatorServer, aiohttp.ClientSession]]:
    config = small_config(error_http_status=request.param)
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        yield server, session


async def _refused(served: Any, action: str, params: dict[str, Any]) -> str:
    """The message of a parameter refusal, checked to arrive with the configured HTTP status."""
    server, session = served
    status, body = await call(session, server.endpoint, action, params)
    assert status == server.sim.config.error_http_status
    assert body["status"] == "error" and isinstance(body["message"], str)
    return str(body["message"])


async def test_wrong_or_missing_token_is_401_and_never_echoed(served: Any) -> None:
    server, session = served
    for token in ("not-the-token", None):
        status, body = await call(session, server.endpoint, "get_members", token=token)
        assert status == 401
        assert body == {"status": "error", "message": "Unauthorized: invalid API token"}
    status, _ = await call(session, server.endpoint, "get_members", token="sim-token-and-more")
    assert status == 401


async def test_unknown_connection_is_404(served: Any) -> None:
    server, session = served
    status, body = await call(session, server.endpoint, "get_members", connection="other-conn")
    assert status == 404
    assert body == {"status": "error", "message": "Connection 'other-conn' not found"}


async def test_unknown_action_is_400_whatever_the_knob(served: Any) -> None:
    server, session = served
    status, body = await call(session, server.endpoint, "get_everything")
    assert status == 400
    assert body == {"status": "error", "message": "Unknown action 'get_everything'"}


async def test_body_that_is_not_json_is_400(served: Any) -> None:
    server, session = served
    headers = {"Api-Authorization": "Bearer sim-token"}
    async with session.post(url_for(server.endpoint), data=b"{not json", headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["status"] == "error"


async def test_parameters_may_be_omitted(served: Any) -> None:
    server, session = served
    status, body = await call(session, server.endpoint, "get_members", None)
    assert status == 200 and isinstance(body["data"], list)


async def test_window_over_31_days_is_refused_and_31_days_is_not(served: Any) -> None:
    server, session = served
    start = day("2025-05-01")
    message = await _refused(served, "get_connector_action_logs", window(start, 32))
    assert message == "Date range cannot exceed 31 days"
    status, body = await call(session, server.endpoint, "get_connector_action_logs", window(start, 31))
    assert status == 200 and body["status"] == "success"
    pid = server.sim.org.projects[0].id
    for action in ("get_project_executions", "get_project_consumption"):
        message = await _refused(served, action, {"projectId": pid, **window(start, 40)})
        assert message == "Date range cannot exceed 31 days"


async def test_more_than_100_project_ids_is_refused(served: Any) -> None:
    server, session = served
    params = window(day("2025-05-01"), 1)
    message = await _refused(served, "get_project_action_logs", {**params, "projectIds": [f"p{i}" for i in range(101)]})
    assert "at most 100" in message
    status, body = await call(
        session, server.endpoint, "get_project_action_logs", {**params, "projectIds": [f"p{i}" for i in range(100)]}
    )
    assert status == 200 and body["data"] == {"entries": [], "nextCursor": None}


LOGS = "get_connector_action_logs"
EXECUTIONS = "get_project_executions"
DAY = {"from": "2025-05-01", "to": "2025-05-02"}


@pytest.mark.parametrize(
    ("action", "params", "fragment"),
    [
        (LOGS, {"to": "2025-05-02T00:00:00.000Z"}, "Missing required parameter 'from'"),
        (LOGS, {"from": "yesterday", "to": "2025-05-02"}, "Invalid 'from'"),
        (LOGS, {"from": "2025-05-03", "to": "2025-05-02"}, "must not be after"),
        ("get_project_action_logs", DAY, "Missing required parameter 'projectIds'"),
        (LOGS, {**DAY, "limit": "many"}, "Invalid 'limit'"),
        (LOGS, {**DAY, "errored": "maybe"}, "Invalid 'errored'"),
        (LOGS, {**DAY, "cursor": "!!"}, "Invalid cursor"),
        (EXECUTIONS, DAY, "Missing required parameter 'projectId'"),
        (EXECUTIONS, {"projectId": "nope", **DAY}, "Project 'nope' not found"),
        ("list_project_tables", {"projectId": "nope"}, "Project 'nope' not found"),
        ("remove_member", {"email": "ghost@example.com"}, "Member 'ghost@example.com' not found"),
    ],
)
async def test_bad_parameters_get_a_clear_message(
    served: Any, action: str, params: dict[str, Any], fragment: str
) -> None:
    assert fragment in await _refused(served, action, params)


async def test_cursor_from_another_query_is_refused(served: Any) -> None:
    server, session = served
    params = {**window(day("2025-05-10"), 3), "limit": 5}
    _, first = await call(session, server.endpoint, "get_connector_action_logs", params)
    cursor = first["data"]["nextCursor"]
    assert cursor
    for other in (
        {**window(day("2025-05-10"), 2), "limit": 5},  # another window
        {**params, "source": "app"},  # another filter
    ):
        message = await _refused(served, "get_connector_action_logs", {**other, "cursor": cursor})
        assert message.startswith("Invalid cursor: it does not belong to this query")
    message = await _refused(served, "get_ai_prompt_logs", {**params, "cursor": cursor})  # another action
    assert "does not belong" in message
    status, _ = await call(session, server.endpoint, LOGS, {**params, "limit": 7, "cursor": cursor})
    assert status == 200  # a different limit is the same query


async def test_limit_is_capped_at_max_limit() -> None:
    async with SimulatorServer(SimConfig(max_limit=50)) as server, aiohttp.ClientSession() as session:
        _, body = await call(
            session, server.endpoint, "get_connector_action_logs", {**window(day("2025-05-01"), 7), "limit": 5000}
        )
        assert len(body["data"]["entries"]) == 50
        _, body = await call(session, server.endpoint, "get_connector_action_logs", window(day("2025-05-01"), 7))
        assert len(body["data"]["entries"]) == 50  # the default of 100, capped too
