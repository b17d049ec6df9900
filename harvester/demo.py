"""`harvester demo`: the whole product in one command, no account needed.

Starts the simulated API on loopback, harvests its history into a DuckDB file, then
prints row counts and the README's example queries with their results. It writes a
`demo.toml` beside the warehouse so `harvester sql --config demo.toml ...` works after.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr

from .config import AbstraSettings, HarvestSettings, Settings, WarehouseSettings
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


def demo_settings(endpoint: str, token: str, path: Path, start: Any) -> Settings:
    return Settings(
        abstra=AbstraSettings(endpoint=endpoint, token=SecretStr(token), max_retries=8),
        harvest=HarvestSettings(start=start, page_size=1000, concurrency=8),
        warehouse=WarehouseSettings(duckdb=path.resolve()),
    )


def demo_config(*, days: int = 90, projects: int = 40) -> SimConfig:
    """The demo's organization: a member for every three projects, at least eight."""
    return simulator_config(days=days, projects=projects, members=max(8, projects // 3))


def build_demo(path: Path, *, days: int = 90, projects: int = 40, announce: bool = False) -> RunReport:
    """Simulate the demo organization and harvest all of it into `path`, quietly unless `announce`."""
    config = demo_config(days=days, projects=projects)
    with run_in_thread(config) as server:
        settings = demo_settings(server.endpoint, config.token, path, config.history_start)
        if announce:
            print(f"simulated organization: {projects} projects, {config.members} members, {days} days of history, "
                  f"serving on {server.endpoint}")
        report = anyio.run(lambda: harvest(settings, Incremental()))
    _write_config(path)
    return report


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
