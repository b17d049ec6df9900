"""The automations source end to end over loopback: a first run lands exactly the
simulator's truth in all five tables; after the platform changes, an incremental run
re-reads only the changed automations (counted at the server), keeps soft-deleted ones
with `delete_time`, marks vanished ones `removed_at`; nothing mutating is ever called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from pydantic import SecretStr

from harvester.config import (
    AutomationsSettings,
    HarvestSettings,
    Settings,
    WarehouseSettings,
)
from harvester.runner import Incremental, harvest
from harvester.sources.automations.sim_config import AutomationsSimConfig
from harvester.sources.automations.simulator import AutomationsServer
from harvester.sources.automations.tables import TABLES

pytestmark = pytest.mark.anyio

CONFIG = AutomationsSimConfig(automations_per_workspace=12, fault_rate=0.05)
CHILD_ROUTES = ("list_automation_revisions", "get_automation_schedule", "list_automation_triggers",
                "list_default_inputs_history")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _settings(server: AutomationsServer, path: Path, page_size: int = 5) -> Settings:
    return Settings(
        automations=AutomationsSettings(
            endpoint=server.endpoint, token=SecretStr("sim-token"), organization_id=CONFIG.organization_id,
            workspaces=tuple(CONFIG.workspaces), page_size=page_size, max_retries=10,
        ),
        harvest=HarvestSettings(start="2025-01-01"),
        warehouse=WarehouseSettings(duckdb=path / "w.duckdb"),
    )


def _stored(path: Path) -> dict[str, dict[Any, dict[str, Any]]]:
    """Each table as key → row, the way the simulator's truth spells it."""
    found: dict[str, dict[Any, dict[str, Any]]] = {}
    with duckdb.connect(str(path / "w.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        for table in TABLES:
            result = con.execute(f'select * from "{table.name}"')
            names = [d[0] for d in result.description]
            rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
            keyed = {}
            for row in rows:
                key = tuple(row[k] for k in table.key)
                keyed[key[0] if len(key) == 1 else key] = _comparable(row, table.is_snapshot)
            assert len(keyed) == len(rows), f"{table.name} holds a key twice"
            found[table.name] = keyed
    return found


def _comparable(row: dict[str, Any], snapshot: bool) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("harvested_at", "first_seen_at", "last_seen_at", "removed_at")}
    for k, v in out.items():
        if isinstance(v, str) and v[:1] in "[{":
            out[k] = orjson.loads(v)
    if snapshot:
        out["removed"] = row["removed_at"] is not None
    return out


async def test_a_first_run_lands_the_truth_and_an_incremental_run_rereads_only_what_changed(tmp_path: Path) -> None:
    async with AutomationsServer(CONFIG) as server:
        sim = server.sim
        settings = _settings(server, tmp_path)
        first = await harvest(settings, Incremental())
        assert first.status == "ok", first.failures
        assert _stored(tmp_path) == sim.truth()

        sim.reset_counters()
        mutation = sim.mutate(1)
        second = await harvest(settings, Incremental())
        assert second.status == "ok", second.failures
        assert _stored(tmp_path) == sim.truth()
        for route in CHILD_ROUTES:
            reread = set(sim.calls_for(route))
            assert reread <= set(mutation.reread) and reread >= set(mutation.reread) - set(mutation.purged), route
        assert sim.mutating_calls == 0

        sim.reset_counters()
        third = await harvest(settings, Incremental())  # nothing changed: no child is read again
        assert third.status == "ok" and not any(sim.calls_for(r) for r in CHILD_ROUTES)
        full = await harvest(settings, Incremental(full=True))
        assert full.status == "ok" and sim.calls_for("list_automation_triggers")
        assert _stored(tmp_path) == sim.truth()


async def test_deleted_automations_keep_their_row_and_vanished_ones_get_removed_at(tmp_path: Path) -> None:
    async with AutomationsServer(CONFIG.model_copy(update={"fault_rate": 0.0})) as server:
        settings = _settings(server, tmp_path, page_size=1000)
        await harvest(settings, Incremental())
        mutation = server.sim.mutate(2, changed=0, deleted=2, purged=2, created=0)
        await harvest(settings, Incremental())
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = dict(con.execute("select id, (delete_time is not null, removed_at is not null) from automations").fetchall())
    for aid in mutation.deleted:
        assert rows[aid] == (True, False), aid
    for aid in mutation.purged:
        assert rows[aid][1] is True, aid
