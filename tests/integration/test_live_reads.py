"""Reading while a run writes (issue 11, items 1 and 2), over real processes.

One backfill runs in a child process against a slow simulator on 127.0.0.1 (40 ms a
call, two at a time: 60 days would take minutes, far longer than the probes). While it runs, `status`
and `sql` are asked by the CLI in other processes and over the socket directly; then
the run is stopped with SIGTERM and what it left is checked. Every probe's result is
collected by one module fixture, and each test below checks one promise.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from click.testing import CliRunner

from harvester.cli import main
from harvester.errors import ExitCode, HarvestError
from harvester.live import NoLiveRun, ask_live, socket_path_for
from harvester.simulator import ServerHandle, SimConfig, run_in_thread
from harvester.timeutil import format_wire

from .conftest import START, write_config
from .truth import expected_log_ids

END = START + timedelta(days=60)  # far more than the probes need: the run is stopped after them
TABLE = "project_action_logs"
COUNT = f"select count(*) as n from {TABLE}"


@dataclass
class Probes:
    """What was seen during and after one run."""

    folder: Path
    warehouse: Path
    truth: int
    socket_mode: int = 0
    socket_uid: int = -1
    status: subprocess.CompletedProcess[str] | None = None
    counts: list[int] = field(default_factory=list)
    cli_refusal: subprocess.CompletedProcess[str] | None = None
    refusals: dict[str, str] = field(default_factory=dict)
    live_seconds: list[float] = field(default_factory=list)
    running_after_probes: bool = False
    exit_code: int | None = None
    log_lines: list[dict[str, Any]] = field(default_factory=list)


def _env(server: ServerHandle) -> dict[str, str]:
    return {**os.environ, "ABSTRA_API_TOKEN": server.sim.config.token}


def _backfill(config: Path, server: ServerHandle) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "--log-format", "json", "backfill", "--config", str(config),
         "--since", format_wire(START), "--until", format_wire(END)],
        env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _cli(config: Path, server: ServerHandle, *args: str) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "harvester", command, "--config", str(config), *rest],
        env=_env(server), capture_output=True, text=True, timeout=120,
    )


def _wait_for_live_run(warehouse: Path, run: subprocess.Popen[str]) -> dict[str, Any]:
    """The run's first live answer (its progress), once its socket is up."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        try:
            return ask_live(warehouse, {"op": "status"}).run
        except NoLiveRun:
            time.sleep(0.05)
    raise AssertionError(f"no live run answered (exit {run.poll()})")


def _importable(work: Path) -> None:
    """A folder `pragma import_database` would run: its schema.sql creates a table."""
    (work / "import").mkdir(parents=True)
    (work / "import" / "schema.sql").write_text("CREATE TABLE pwned (a INT);\n")
    (work / "import" / "load.sql").write_text("")


def _hostile(work: Path) -> list[str]:
    importable = work / "import"
    return [
        "insert into members (id) values ('x')",
        f"copy members to '{work}/members.csv'",
        f"attach '{work}/other.duckdb' as other",
        f"pragma import_database('{importable}')",
        "select 1; insert into members (id) values ('x')",
        "select 1; select 2",
        f"explain analyze copy members to '{work}/explained.csv'",
        "explain analyze insert into members (id) values ('x')",
        "set memory_limit = '10GB'",
        "select * from read_text('/etc/hostname')",
    ]


def _probe(probes: Probes, config: Path, server: ServerHandle, run: subprocess.Popen[str]) -> None:
    info = os.lstat(socket_path_for(probes.warehouse))
    assert stat.S_ISSOCK(info.st_mode)
    probes.socket_mode, probes.socket_uid = stat.S_IMODE(info.st_mode), info.st_uid
    with ThreadPoolExecutor(2) as pool:
        status = pool.submit(_cli, config, server, "status")
        first = pool.submit(_cli, config, server, "sql", "--format", "csv", COUNT)
        probes.status = status.result()
        probes.counts.append(int(first.result().stdout.splitlines()[1]))
        refused = pool.submit(_cli, config, server, "sql", "insert into members (id) values ('x')")
        second = pool.submit(_cli, config, server, "sql", "--format", "csv", COUNT)
        probes.cli_refusal = refused.result()
        probes.counts.append(int(second.result().stdout.splitlines()[1]))
    work = probes.folder / "work"
    _importable(work)
    for statement in _hostile(work):
        began = time.monotonic()
        try:
            ask_live(probes.warehouse, {"op": "sql", "sql": statement})
        except HarvestError as exc:
            probes.refusals[statement] = str(exc)
        probes.live_seconds.append(time.monotonic() - began)
    began = time.monotonic()
    probes.counts.append(int(ask_live(probes.warehouse, {"op": "sql", "sql": COUNT}).rows[0][0]))
    probes.live_seconds.append(time.monotonic() - began)
    probes.running_after_probes = run.poll() is None


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probes]:
    folder = tmp_path_factory.mktemp("live")
    with run_in_thread(SimConfig(projects=4, start=START, end=END, latency_ms=40)) as server:
        config = write_config(server, folder, page_size=100, commit_rows=200, concurrency=2, progress_seconds=0.2)
        warehouse = folder / "warehouse.duckdb"
        truth = len(expected_log_ids(server.sim.org, TABLE, START, END))
        result = Probes(folder, warehouse, truth)
        run = _backfill(config, server)
        try:
            _wait_for_live_run(warehouse, run)
            _probe(result, config, server, run)
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=120)
        result.exit_code = run.returncode
        result.log_lines = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
        yield result


def test_status_answers_during_a_run_with_the_runs_progress(probes: Probes) -> None:
    assert probes.running_after_probes, "the run ended before the probes: make it slower"
    status = probes.status
    assert status is not None and status.returncode == 0, status and status.stderr
    assert TABLE in status.stdout
    lines = status.stdout.splitlines()
    assert any(line.startswith("run ") and line.endswith(" is running") for line in lines), status.stdout
    live = next(line for line in lines if line.startswith("live run: harvesting"))
    assert "partitions " in live and "rows " in live and "rows/s" in live, live
    assert any(line.startswith("  abstra: partitions ") for line in lines), status.stdout


def test_sql_answers_during_a_run_from_committed_rows(probes: Probes) -> None:
    """Counts grow (each query sees every row the one before saw) and never exceed the
    simulator's ground truth; each socket answer came back within a loose bound."""
    assert probes.running_after_probes
    assert len(probes.counts) == 3
    assert probes.counts == sorted(probes.counts), probes.counts
    assert all(0 <= n <= probes.truth for n in probes.counts), (probes.counts, probes.truth)
    assert max(probes.live_seconds) < 10, probes.live_seconds


def test_writes_through_the_socket_are_refused_and_change_nothing(probes: Probes) -> None:
    work = probes.folder / "work"
    assert set(probes.refusals) == set(_hostile(work)), sorted(set(_hostile(work)) - set(probes.refusals))
    assert "refused INSERT" in probes.refusals["insert into members (id) values ('x')"]
    assert "refused COPY" in probes.refusals[f"copy members to '{work}/members.csv'"]
    assert "one statement at a time" in probes.refusals["select 1; select 2"]
    assert "Permission Error" in probes.refusals["select * from read_text('/etc/hostname')"]
    refusal = probes.cli_refusal
    assert refusal is not None and refusal.returncode != 0
    assert [line for line in refusal.stderr.splitlines() if line.startswith("error: ")] == [
        "error: `sql` runs read-only queries (SELECT, EXPLAIN, PRAGMA); refused INSERT"
    ]
    assert sorted(p.name for p in work.iterdir()) == ["import"]
    assert probes.exit_code is not None
    with duckdb.connect(str(probes.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from members where id = 'x'").fetchone() == (0,)
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert "pwned" not in tables
        assert con.execute(COUNT).fetchone()[0] >= probes.counts[-1]


def test_the_socket_is_private_and_removed_when_the_run_ends(probes: Probes) -> None:
    assert probes.socket_mode == 0o600
    assert probes.socket_uid == os.getuid()
    assert probes.exit_code == ExitCode.INTERRUPTED
    assert not socket_path_for(probes.warehouse).exists()


def test_progress_lines_come_at_the_configured_cadence_with_their_fields(probes: Probes) -> None:
    lines = [line for line in probes.log_lines if line.get("event") == "run.progress"]
    assert len(lines) >= 5, len(lines)
    fields = {"partitions_done", "partitions_total", "rows", "pages", "retries", "rows_per_second", "eta_seconds"}
    harvesting = [line for line in lines if line["phase"] == "harvesting"]
    assert harvesting
    for line in harvesting:
        assert fields <= set(line) and set(line["sources"]) == {"abstra"}, line
        assert fields <= set(line["sources"]["abstra"])
    assert len({line["partitions_total"] for line in harvesting}) == 1
    for key in ("partitions_done", "rows", "pages"):
        values = [line[key] for line in harvesting]
        assert values == sorted(values), (key, values)
    assert harvesting[-1]["rows"] > 0 and harvesting[-1]["eta_seconds"] is not None
    stamps = [datetime.fromisoformat(line["timestamp"]).timestamp() for line in lines]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps


def test_a_killed_runs_stale_socket_reads_as_no_run_and_the_next_run_replaces_it(tmp_path: Path) -> None:
    with run_in_thread(SimConfig(projects=2, start=START, end=END, latency_ms=40)) as server:
        config = write_config(server, tmp_path, page_size=100, concurrency=1)
        warehouse = tmp_path / "warehouse.duckdb"
        socket_file = socket_path_for(warehouse)
        killed = _backfill(config, server)
        _wait_for_live_run(warehouse, killed)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
        assert socket_file.exists()
        stale = os.lstat(socket_file).st_ino
        with pytest.raises(NoLiveRun):
            ask_live(warehouse, {"op": "status"})
        result = CliRunner().invoke(main, ["status", "--config", str(config)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert TABLE in result.stdout and "is running" not in result.stdout

        again = _backfill(config, server)
        try:
            progress = _wait_for_live_run(warehouse, again)
            assert os.lstat(socket_file).st_ino != stale
            assert progress["phase"] in ("discovering", "harvesting")
        finally:
            again.send_signal(signal.SIGTERM)
            again.communicate(timeout=60)
        assert again.returncode == ExitCode.INTERRUPTED


def test_a_socket_path_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    socket_path_for(warehouse).write_text("not a socket")
    with pytest.raises(HarvestError, match="is not a socket"):
        ask_live(warehouse, {"op": "status"})
