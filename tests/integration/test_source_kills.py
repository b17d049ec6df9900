"""A SIGKILLed run of the automations or flows source, run again, ends exactly equal to
the simulator's truth: no row lost, none doubled (CLI in a subprocess, loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harvester.sources.automations.sim_config import AutomationsSimConfig
from harvester.sources.automations.simulator import AutomationsServer
from harvester.sources.flows.simdata import FlowsSimConfig
from harvester.sources.flows.simulator import FlowsServer
from tests.integration.test_automations_source import _stored as stored_automations
from tests.integration.test_flows_source import _stored as stored_flows
from tests.threads import serve_in_thread


def _kill_then_finish(config: Path, env: dict[str, str], args: list[str], started: callable) -> None:  # type: ignore[valid-type]
    """Start the CLI, SIGKILL it once the server has answered some requests, run it again."""
    cmd = [sys.executable, "-m", "harvester", "--log-format", "json", *args, "--config", str(config)]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    again = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-2000:]


def test_a_killed_flows_backfill_resumes_to_the_truth(tmp_path: Path) -> None:
    sim = FlowsSimConfig(days=8, latency_ms=30)
    start = datetime.combine(sim.first_day, datetime.min.time(), UTC)
    with serve_in_thread(lambda: FlowsServer(sim)) as server:
        config = tmp_path / "h.toml"
        config.write_text(
            f'[flows]\nendpoint = "{server.endpoint}"\ntenants = ["tenant-1", "tenant-2"]\nmax_retries = 8\n'
            '[harvest]\nconcurrency = 2\n[warehouse]\nduckdb = "w.duckdb"\n'
        )
        until = (start + timedelta(days=sim.days)).date().isoformat()
        _kill_then_finish(
            config, {"FLOWS_API_TOKEN": "sim-token"}, ["backfill", "--since", start.date().isoformat(), "--until", until],
            lambda: server.sim.stats.get("route.executions", 0) >= 6,
        )
        days = [sim.first_day + timedelta(days=i) for i in range(sim.days)]
        truth = server.sim.truth(days)
        assert stored_flows(tmp_path) == (dict(truth.counts), {i: dict(v) for i, v in truth.logs.items()})


def test_a_killed_automations_run_resumes_to_the_truth(tmp_path: Path) -> None:
    sim = AutomationsSimConfig(automations_per_workspace=15, latency_ms=30)
    with serve_in_thread(lambda: AutomationsServer(sim)) as server:
        config = tmp_path / "h.toml"
        config.write_text(
            f'[automations]\nendpoint = "{server.endpoint}"\norganization_id = "{sim.organization_id}"\n'
            f'workspaces = {list(sim.workspaces)!r}\npage_size = 5\nmax_retries = 8\n'
            '[harvest]\nconcurrency = 2\n[warehouse]\nduckdb = "w.duckdb"\n'.replace("'", '"')
        )
        _kill_then_finish(
            config, {"AUTOMATIONS_API_TOKEN": "sim-token"}, ["run"],
            lambda: server.sim.stats.get("route.list_automation_triggers", 0) >= 4,
        )
        assert stored_automations(tmp_path) == server.sim.truth()
