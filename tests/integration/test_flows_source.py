"""The flows source end to end over loopback: every reply shape lands exactly the
simulator's truth, incremental runs re-read the last day, logs are kept once with
`is_error`, and a reply of an unknown shape fails its partition keeping the raw reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from harvester.config import FlowsSettings, HarvestSettings, Settings, WarehouseSettings
from harvester.runner import Backfill, Incremental, harvest
from harvester.sources.flows.simdata import (
    COUNT_FORMS,
    COUNT_WRAPPERS,
    LOG_SHAPES,
    FlowsSimConfig,
)
from harvester.sources.flows.simulator import FlowsServer

pytestmark = pytest.mark.anyio

CONFIG = FlowsSimConfig(days=6, executions_per_day=25, logs_per_day=6)
START = datetime.combine(CONFIG.first_day, datetime.min.time(), UTC)
END = START + timedelta(days=CONFIG.days)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _settings(server: FlowsServer, path: Path, **flows: Any) -> Settings:
    return Settings(
        flows=FlowsSettings(
            endpoint=server.endpoint, token=SecretStr("sim-token"), tenants=CONFIG.tenants, max_retries=8, **flows
        ),
        harvest=HarvestSettings(start=START, lookback=timedelta(hours=2)),
        warehouse=WarehouseSettings(duckdb=path / "w.duckdb"),
    )


def _stored(path: Path) -> tuple[dict[tuple[Any, ...], int], dict[str, dict[str, Any]]]:
    with duckdb.connect(str(path / "w.duckdb"), read_only=True) as con:
        counts = con.execute("select day, group_by, key, count from flow_execution_counts").fetchall()
        logs = con.execute("select id, tenant, flow_id, step_id, created_at, is_error from flow_logs").fetchall()
    assert len({(d, g, k) for d, g, k, _ in counts}) == len(counts), "a (day, group_by, key) is stored twice"
    assert len({row[0] for row in logs}) == len(logs), "a log id is stored twice"
    names = ("tenant", "flow_id", "step_id", "created_at", "is_error")
    return {(d, g, k): n for d, g, k, n in counts}, {i: dict(zip(names, rest, strict=True)) for i, *rest in logs}


def _truth(server: FlowsServer) -> tuple[dict[tuple[Any, ...], int], dict[str, dict[str, Any]]]:
    days = [CONFIG.first_day + timedelta(days=i) for i in range(CONFIG.days)]
    truth = server.sim.truth(days)
    return dict(truth.counts), {i: dict(v) for i, v in truth.logs.items()}


SHAPES = [f"{w}.{f}".lstrip(".") for w in ("", *COUNT_WRAPPERS) for f in COUNT_FORMS]


@pytest.mark.parametrize("counts_shape", SHAPES)
async def test_a_backfill_lands_exactly_the_truth_in_every_count_reply_shape(tmp_path: Path, counts_shape: str) -> None:
    async with FlowsServer(CONFIG.model_copy(update={"counts_shape": counts_shape})) as server:
        report = await harvest(_settings(server, tmp_path), Backfill(START, END))
        assert report.status == "ok", report.failures
        assert _stored(tmp_path) == _truth(server)


@pytest.mark.parametrize("logs_shape", LOG_SHAPES)
async def test_logs_land_once_with_is_error_in_every_log_reply_shape(tmp_path: Path, logs_shape: str) -> None:
    config = CONFIG.model_copy(update={"logs_shape": logs_shape, "log_style": "snake"})
    async with FlowsServer(config) as server:
        report = await harvest(_settings(server, tmp_path), Backfill(START, END, streams=("flow_logs",)))
        assert report.status == "ok", report.failures
        _, logs = _stored(tmp_path)
        assert logs == _truth(server)[1]
        assert any(v["is_error"] for v in logs.values()) and not all(v["is_error"] for v in logs.values())


async def test_incremental_runs_end_equal_to_the_truth_and_read_only_the_last_days_again(tmp_path: Path) -> None:
    async with FlowsServer(CONFIG) as server:
        settings = _settings(server, tmp_path)
        first = await harvest(settings, Incremental(), now=END)
        calls = server.sim.stats.get("route.executions", 0)
        second = await harvest(settings, Incremental(), now=END + timedelta(hours=1))
        again = server.sim.stats.get("route.executions", 0) - calls
        assert first.status == second.status == "ok"
        assert _stored(tmp_path) == _truth(server)
        # the second run re-reads only the last (partial) day, once per grouping
        assert again == len(settings.flows.group_by) if settings.flows else False


async def test_a_reply_of_an_unknown_shape_fails_its_partition_and_keeps_the_raw_reply(tmp_path: Path) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.json_response({"total": "many", "by": ["a", "b"]})

    app = web.Application()
    app.router.add_get("/icenter/executions", odd)
    async with TestServer(app, host="127.0.0.1") as test_server:
        server = FlowsServer(CONFIG)
        server.endpoint = str(test_server.make_url("")).rstrip("/")
        settings = _settings(server, tmp_path, group_by=("user",))
        report = await harvest(settings, Backfill(START, START + timedelta(days=1), streams=("flow_execution_counts",)))
    assert report.status == "partial" and "execution counts" in report.failures[0], report.failures
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        (reason, raw), = con.execute("select reason, raw from _rejects").fetchall()
    assert "execution counts" in reason and "many" in raw
