"""The run's gate (adaptive) against the simulator's rate limit (`rate_limit_rps`), over loopback.

Outcomes only: every entry arrives exactly as the ground truth has it, and every 429
the server sent was seen by the gate, which learned a pace from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
from pydantic import SecretStr

from harvester.http import Gate
from harvester.retry import RetryPolicy
from harvester.simulator import SimConfig, run_in_thread
from harvester.sources.abstra.client import AbstraClient
from harvester.sources.abstra.models import LogQuery
from harvester.transport import AiohttpTransport

START = datetime(2025, 5, 20, tzinfo=UTC)
DAYS = 8
ACTION, STREAM = "get_connector_action_logs", "connector_action_logs"


async def _harvest(endpoint: str, token: str, gate: Gate) -> list[dict]:
    """One cursor chain per day, all at once, through the gate; every entry returned."""
    transport = AiohttpTransport(timeout_seconds=30, pool_size=64)
    entries: list[dict] = []

    async def chain(client: AbstraClient, day: datetime) -> None:
        cursor = None
        while True:
            query = LogQuery(**{"from": day, "to": day + timedelta(days=1)}, limit=10, cursor=cursor)
            page = await client.log_page(ACTION, query)
            entries.extend(page.entries)
            cursor = page.next_cursor
            if not cursor or not page.entries:
                return

    client = AbstraClient(endpoint=endpoint, connection="abstra-manager", token=SecretStr(token),
                          transport=transport, retry=RetryPolicy(max_retries=20), gate=gate)
    async with client, anyio.create_task_group() as tg:
        for i in range(DAYS):
            tg.start_soon(chain, client, START + timedelta(days=i))
    return entries


def test_a_rate_limited_harvest_through_the_gate_lands_the_ground_truth():
    config = SimConfig(start=START - timedelta(days=2), end=START + timedelta(days=DAYS), projects=3,
                       rate_limit_rps=30, events_per_day={STREAM: 150})
    gate = Gate(concurrency=8)
    with run_in_thread(config) as server:
        entries = anyio.run(_harvest, server.endpoint, config.token, gate)
        end = START + timedelta(days=DAYS)
        truth = {e["id"] for e in server.sim.org.log_entries(STREAM, START, end)}
        got = [e["id"] for e in entries if e["createdAt"] < end.strftime("%Y-%m-%dT%H:%M:%S.000Z")]
        assert len(truth) > 1000
        assert set(got) == truth
        assert server.sim.stats.get("rate_limited", 0) > 0  # the limit was reached ...
        control = gate.control
        assert control is not None
        assert control.throttles == server.sim.stats["rate_limited"]  # ... every 429 reached the gate
    assert control.cuts >= 1 and control.rate is not None  # and it paces from then on
    assert control.in_flight == 0
