"""Issue 3's promises: kill matrix, overlapping runs, and the token never written anywhere."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from harvester.errors import ExitCode
from harvester.timeutil import format_wire

from .conftest import START, SimFactory, write_config
from .truth import assert_matches_truth


def _cli(
    config: Path, token: str, *args: str, log_format: str = "json", log_level: str = "info"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "--log-format", log_format, "--log-level", log_level,
         *args, "--config", str(config)],
        env={**os.environ, "ABSTRA_API_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_requests(server: Any, before: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the process has sent its first API call (so it has recorded its run), or
    ended; however slowly the machine starts a Python process."""
    deadline = time.monotonic() + 60
    while server.sim.stats.get("requests", 0) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_kill_matrix_twenty_sigkills_then_exactly_ground_truth(simulator: SimFactory, tmp_path: Path) -> None:
    """SIGKILL a backfill at 20 random moments (during fetches, mid-transaction); every
    restart takes the stale lock over and resumes; the end state equals ground truth:
    zero missing and zero duplicate rows in every table."""
    end = START + timedelta(days=45)
    # Slow enough (40 ms a call, 2 at a time) that twenty kills land before the end.
    server = simulator(projects=15, start=START, end=end, latency_ms=40)
    config = write_config(server, tmp_path, page_size=150, commit_rows=600, concurrency=2)
    args = ("backfill", "--since", format_wire(START), "--until", format_wire(end))
    token = server.sim.config.token
    rng = random.Random(20)
    kills = 0
    for _ in range(20):
        before = server.sim.stats.get("requests", 0)
        proc = _cli(config, token, *args)
        _wait_for_requests(server, before, proc)  # the run is recorded: kill it during its work
        time.sleep(rng.uniform(0.1, 0.8))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    finish = _cli(config, token, *args)
    out, err = finish.communicate(timeout=300)
    assert finish.returncode == ExitCode.OK, err.decode()[-2000:]
    assert kills == 20, f"only {kills} kills landed before the backfill finished"
    path = tmp_path / "warehouse.duckdb"
    assert_matches_truth(path, server.sim.org, START, end)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from _partitions where not done").fetchone() == (0,)
        statuses = [r[0] for r in con.execute("select status from _runs order by started_at").fetchall()]
    assert statuses.count("killed") == kills and statuses[-1] == "ok", statuses


def test_two_runs_started_at_once_one_works_the_other_exits_4(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=3, start=START, end=START + timedelta(days=10), latency_ms=5)
    config = write_config(server, tmp_path)
    token = server.sim.config.token
    args = ("backfill", "--since", "2025-01-01", "--until", "2025-01-11")
    first, second = _cli(config, token, *args), _cli(config, token, *args)
    results = sorted([(p.wait(timeout=120), p.communicate()[1].decode()) for p in (first, second)])
    (ok, _), (locked, message) = results
    assert (ok, locked) == (ExitCode.OK, ExitCode.LOCKED), results
    assert "another harvester run" in message and len(message.strip().splitlines()) == 1


def test_the_token_never_appears_in_output_logs_or_files(simulator: SimFactory, tmp_path: Path) -> None:
    """With faults, rejects, debug logs in both formats, a failed and a successful
    run: the token is in no line printed and in no byte of any file written."""
    secret = "tok-" + os.urandom(12).hex()
    server = simulator(
        projects=3, start=START, end=START + timedelta(days=5), token=secret,
        fault_rate=0.2, fault_kinds=["http_500", "http_429", "truncated_json"], malformed_rate=0.05,
    )
    config = write_config(server, tmp_path)
    printed = b""
    for log_format in ("json", "console"):
        for token in (secret, secret + "-wrong"):
            proc = _cli(config, token, "backfill", "--since", "2025-01-01", "--until", "2025-01-06",
                        log_format=log_format, log_level="debug")
            out, err = proc.communicate(timeout=120)
            printed += out + err
    proc = _cli(config, secret, "call", "get_members")
    printed += b"".join(proc.communicate(timeout=60))
    assert b"error:" in printed, "the wrong-token runs failed visibly"
    assert secret.encode() not in printed
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    # DuckDB may compress strings on disk, so also look through every table as text.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        assert {"_runs", "_rejects", "_partitions"} <= set(tables)
        for table in tables:
            hits = con.execute(f'select count(*) from "{table}" t where strpos(t::varchar, ?) > 0', [secret]).fetchone()
            assert hits == (0,), table
