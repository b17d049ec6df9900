"""`harvester demo`: the whole product in one command, no account needed.

Starts the simulated API on loopback, harvests its history into a DuckDB file, then
prints row counts and the README's example queries with their results. It writes a
`demo.toml` beside the warehouse so `harvester sql --config demo.toml ...` works after.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr

from .config import (
    AbstraSettings,
    AutomationsSettings,
    FlowsSettings,
    HarvestSettings,
    Settings,
    WarehouseSettings,
)
from .examples import EXAMPLE_QUERIES
from .output import format_table
from .runner import Incremental, RunReport, harvest
from .simulator import SimConfig, run_in_thread
from .simulator.config import DEFAULT_EVENTS_PER_DAY
from .timeutil import floor_day, utc_now

__all__ = ["build_demo", "demo_config", "run_demo", "simulator_config"]


def simulator_config(
    *,
    seed: int = 0,
    projects: int = 12,
    members: int = 8,
    days: int = 90,
    scale: float = 1.0,
    latency_ms: float = 0,
    fault_rate: float = 0.0,
    token: str = "sim-token",
) -> SimConfig:
    """A simulated organization whose history ends now (so incremental runs make sense)."""
    end = utc_now()
    return SimConfig(
        seed=seed,
        projects=projects,
        members=members,
        folders=max(1, projects // 10),
        start=floor_day(end) - timedelta(days=days),
        end=end,
        events_per_day={k: v * scale for k, v in DEFAULT_EVENTS_PER_DAY.items()},
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        token=token,
    )


def demo_settings(endpoint: str, token: str, path: Path, start: Any, others: dict[str, str] | None = None) -> Settings:
    """Settings for the demo: the simulated Abstra API, plus the simulated automations and
    flows APIs when `others` gives their endpoints."""
    others = others or {}
    extra: dict[str, Any] = {}
    if "automations" in others:
        extra["automations"] = AutomationsSettings(
            endpoint=others["automations"], token=SecretStr(token), organization_id="org-1",
            workspaces=("ws-1", "ws-2"), max_retries=8,
        )
    if "flows" in others:
        extra["flows"] = FlowsSettings(
            endpoint=others["flows"], token=SecretStr(token), tenants=("tenant-1", "tenant-2"), max_retries=8
        )
    return Settings(
        **extra,
        abstra=AbstraSettings(endpoint=endpoint, token=SecretStr(token), max_retries=8),
        harvest=HarvestSettings(start=start, page_size=1000, concurrency=8),
        warehouse=WarehouseSettings(duckdb=path.resolve()),
    )


def demo_config(*, days: int = 90, projects: int = 40) -> SimConfig:
    """The demo's organization: a member for every three projects, at least eight."""
    return simulator_config(days=days, projects=projects, members=max(8, projects // 3))


def build_demo(
    path: Path, *, days: int = 90, projects: int = 40, announce: bool = False, sources: bool = True
) -> RunReport:
    """Simulate the demo organization (and, with `sources`, its automations and flows
    platforms, whose users are the organization's members) and harvest all of it into
    `path`, quietly unless `announce`."""
    config = demo_config(days=days, projects=projects)
    with run_in_thread(config) as server:
        emails = tuple(m["email"] for m in server.sim.org.members())
        if announce:
            print(f"simulated organization: {projects} projects, {config.members} members, {days} days of history, "
                  f"serving on {server.endpoint}" + ("; with simulated automations and flows APIs" if sources else ""))

        async def go() -> RunReport:
            if not sources:
                return await harvest(demo_settings(server.endpoint, config.token, path, config.history_start),
                                     Incremental())
            async with _other_simulators(emails, config) as others:
                settings = demo_settings(server.endpoint, config.token, path, config.history_start, others)
                return await harvest(settings, Incremental())

        report = anyio.run(go)
    _write_config(path)
    return report


@contextlib.asynccontextmanager
async def _other_simulators(emails: tuple[str, ...], config: SimConfig) -> AsyncIterator[dict[str, str]]:
    """The automations and flows simulators, served from this event loop, their users
    the organization's members so the demo's queries can join across sources."""
    from .sources.automations.sim_config import AutomationsSimConfig
    from .sources.automations.simulator import AutomationsServer
    from .sources.flows.simdata import FlowsSimConfig
    from .sources.flows.simulator import FlowsServer

    end = config.end
    automations = AutomationsSimConfig(users=emails, now=end, token=config.token, automations_per_workspace=30)
    # the flows history ends yesterday, so no simulated log is stamped later than now
    flows = FlowsSimConfig(users=emails, today=(end - timedelta(days=1)).date(), days=30, token=config.token)
    async with AutomationsServer(automations) as a, FlowsServer(flows) as f:
        yield {"automations": a.endpoint, "flows": f.endpoint}


def run_demo(path: Path, *, days: int = 90, projects: int = 40) -> RunReport:
    began = time.monotonic()
    report = build_demo(path, days=days, projects=projects, announce=True)
    elapsed = time.monotonic() - began
    print(f"harvested {sum(report.rows.values()):,} rows in {elapsed:.1f} s ({report.requests:,} API calls) "
          f"into {path}: run {report.status}\n")
    _show(path)
    print(f"next: harvester report --config {path.parent / 'demo.toml'} --out report.html   "
          "# charts in one HTML file")
    return report


def _write_config(path: Path) -> None:
    (path.parent / "demo.toml").write_text(
        f'# Written by `harvester demo`: query the demo warehouse with\n'
        f'#   harvester sql --config demo.toml "select count(*) from project_action_logs"\n'
        f'[warehouse]\nduckdb = "{path.name}"\n'
    )


def _show(path: Path) -> None:
    from sinks import Warehouse

    with Warehouse.open_read_only(path) as warehouse:
        counts = [(name, warehouse.query(f'select count(*) from "{name}"')[1][0][0]) for name in warehouse.tables]
        print(format_table(["table", "rows"], counts), end="\n\n")
        for title, sql in EXAMPLE_QUERIES:
            columns, rows = warehouse.query(sql)
            print(f"-- {title}\n{sql.strip()}\n")
            print(format_table(columns, rows[:10]), end="\n\n")


def serve_simulator(
    source: str, *, host: str, port: int, seed: int, projects: int, members: int, days: int, scale: float,
    latency_ms: float, fault_rate: float, token: str,
) -> None:
    """Serve one simulated API until interrupted (`harvester simulate`)."""
    if source == "automations":
        from .sources.automations.sim_config import AutomationsSimConfig
        from .sources.automations.simulator import serve as serve_automations

        now = utc_now()
        serve_automations(
            AutomationsSimConfig(seed=seed, now=now, history_days=days, latency_ms=latency_ms,
                                 fault_rate=fault_rate, token=token),
            host, port,
        )
    elif source == "flows":
        from .sources.flows.simdata import FlowsSimConfig
        from .sources.flows.simulator import serve as serve_flows

        serve_flows(
            FlowsSimConfig(seed=seed, today=utc_now().date(), days=days, latency_ms=latency_ms,
                           fault_rate=fault_rate, token=token),
            host, port,
        )
    else:
        from .simulator import serve

        config = simulator_config(
            seed=seed, projects=projects, members=members, days=days, scale=scale,
            latency_ms=latency_ms, fault_rate=fault_rate, token=token,
        )
        serve(config, host=host, port=port)
