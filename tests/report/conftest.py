"""One small harvested organization and its report, shared by the report tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import pytest

from harvester.demo import demo_settings, simulator_config
from harvester.report import ReportSummary, write_report
from harvester.runner import Backfill, harvest
from harvester.simulator import Org, run_in_thread
from harvester.timeutil import utc_now

# an email that would fetch a URL and run script if the page did not escape it
HOSTILE_EMAIL = '<img src="http://127.0.0.1:9/pwned.png" onerror="alert(1)">@evil.example'


@dataclass(frozen=True)
class Harvested:
    warehouse: Path
    html: Path
    summary: ReportSummary
    org: Org
    now: datetime


def _harvest(folder: Path, streams: tuple[str, ...] | None) -> tuple[Path, Org]:
    config = simulator_config(projects=5, members=8, days=12)
    path = folder / "w.duckdb"
    with run_in_thread(config) as server:
        if streams is None:
            server.sim.org.add_member(HOSTILE_EMAIL)
        settings = demo_settings(server.endpoint, config.token, path, config.history_start)
        anyio.run(harvest, settings, Backfill(config.history_start, utc_now() + timedelta(seconds=1), streams))
        return path, server.sim.org


@pytest.fixture(scope="session")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvested]:
    """Every stream of a 5-project organization over 12 days, reported over 10 days."""
    folder = tmp_path_factory.mktemp("report")
    path, org = _harvest(folder, None)
    now = utc_now()
    summary = write_report(path, folder / "report.html", days=10, now=now)
    yield Harvested(path, folder / "report.html", summary, org, now)


@pytest.fixture(scope="session")
def logins_only(tmp_path_factory: pytest.TempPathFactory) -> Harvested:
    """A warehouse holding auth attempts only: every other panel has no table."""
    folder = tmp_path_factory.mktemp("logins-only")
    path, org = _harvest(folder, ("auth_attempt_logs",))
    now = utc_now()
    summary = write_report(path, folder / "report.html", days=10, now=now)
    return Harvested(path, folder / "report.html", summary, org, now)
