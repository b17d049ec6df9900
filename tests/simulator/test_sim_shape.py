"""The simulator's knobs for a connector of another shape: hidden and renamed actions
(in discovery and in `execute` alike), a narrower window, a skewed `Date` header."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import pytest

from harvester.simulator import SimulatorServer

from .helpers import call, small_config, window

pytestmark = pytest.mark.anyio

RENAMED = {"get_organization_action_logs": "get_action_logs"}


async def test_a_renamed_action_answers_under_its_new_name_only_and_a_hidden_one_not_at_all() -> None:
    config = small_config(renamed_actions=RENAMED, hidden_actions=("get_members",))
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        headers = {"Api-Authorization": "Bearer sim-token"}
        url = server.endpoint + "/cli/connectors/connection/abstra-manager/actions?pageSize=50"
        async with session.get(url, headers=headers) as response:
            offered = (await response.json())["data"]
        assert "get_action_logs" in offered and len(offered) == 15
        assert "get_organization_action_logs" not in offered and "get_members" not in offered
        params = {**window(config.history_start, 2), "limit": 5}
        status, body = await call(session, server.endpoint, "get_action_logs", params)
        assert status == 200 and len(body["data"]["entries"]) == 5
        for gone in ("get_organization_action_logs", "get_members"):
            assert await call(session, server.endpoint, gone, params) == (
                400, {"status": "error", "message": f"Unknown action '{gone}'"})


async def test_max_window_days_narrows_every_windowed_action() -> None:
    config = small_config(max_window_days=7)
    async with SimulatorServer(config) as server, aiohttp.ClientSession() as session:
        start = config.history_start
        wide = window(start, 8)
        status, body = await call(session, server.endpoint, "get_auth_attempt_logs", wide)
        assert (status, body["message"]) == (400, "Date range cannot exceed 7 days")
        status, _ = await call(session, server.endpoint, "get_auth_attempt_logs", window(start, 7))
        assert status == 200


async def test_date_skew_moves_the_date_header() -> None:
    async with SimulatorServer(small_config(date_skew_seconds=-3600)) as server, aiohttp.ClientSession() as session:
        async with session.get(server.endpoint + "/cli/connectors/connections") as response:
            served = parsedate_to_datetime(response.headers["Date"])
        behind = (datetime.now(UTC) - served).total_seconds()
        assert 3590 < behind < 3610
