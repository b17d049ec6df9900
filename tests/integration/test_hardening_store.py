"""Issue 7, storage half, through the CLI: read-only `sql` on both stores, bounded spill,
storage failures with their own exit code, and config that used to give a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harvester.cli import main
from harvester.config import load_settings
from harvester.errors import ExitCode
from sinks import Warehouse
from tests.sinks.test_sink_sealed import fill, fingerprint, hostile_statements
from tests.sinks.test_sink_storage import corrupt_column

from .conftest import START, SimFactory, write_config


def _invoke(args: list[str], token: str = "") -> Result:
    env = {"ABSTRA_API_TOKEN": token}
    return CliRunner().invoke(main, ["--log-format", "json", *args], env=env, catch_exceptions=False)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A warehouse, its lake and a config naming both; the working directory is tmp_path,
    so a relative path written by a query would show in the fingerprint too."""
    from sinks.lake import mirror

    monkeypatch.chdir(tmp_path)
    warehouse, lake = tmp_path / "warehouse.duckdb", tmp_path / "lake"
    fill(warehouse)
    mirror(warehouse, str(lake))
    config = tmp_path / "harvester.toml"
    config.write_text('[warehouse]\nduckdb = "warehouse.duckdb"\nparquet = "lake"\n')
    return config, warehouse, next(lake.rglob("*.parquet"))


@pytest.mark.parametrize("lake", [False, True], ids=["sql", "sql --lake"])
def test_sql_cannot_write_attach_copy_install_or_set_through_any_route(
    tmp_path: Path, stores: tuple[Path, Path, Path], lake: bool
) -> None:
    """Issue 7.2: each hostile statement (PRAGMA import_database running a schema.sql
    that copies out, attaches and deletes, or drops; COPY; ATTACH; EXPORT; INSTALL/LOAD;
    SET/PRAGMA settings; multi-statement text; file-reading table functions) fails with
    one line, and no file under the folder is new or changed."""
    config, warehouse, lake_file = stores
    statements = [*hostile_statements(tmp_path, warehouse, lake_file), "SELECT 1; DROP TABLE members", "CALL checkpoint()"]
    before = fingerprint(tmp_path)
    flag = ["--lake"] if lake else []
    for statement in statements:
        result = _invoke(["sql", "--config", str(config), *flag, statement])
        assert result.exit_code != 0, (statement, result.stdout)
        _one_error_line(result.stderr)
        assert "hunter2" not in result.stdout
    assert fingerprint(tmp_path) == before
    with Warehouse.open_read_only(warehouse) as wh:
        assert wh.query("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM members), "
                        "(SELECT count(*) FROM _partitions)")[1] == [(5, 2, 1)]
    ok = _invoke(["sql", "--config", str(config), *flag, "SELECT count(*) AS n FROM executions"])
    assert ok.exit_code == 0 and "5" in ok.stdout


@pytest.mark.parametrize("lake", [False, True], ids=["sql", "sql --lake"])
def test_a_query_that_spills_past_the_limit_stops_with_one_line(stores: tuple[Path, Path, Path], lake: bool) -> None:
    """Issue 7.11: a big sort used to spill until the disk was full; now it stops at
    `[warehouse] query_spill_limit`, exit 5, with a line that says to narrow the query."""
    config, _, _ = stores
    config.write_text(config.read_text() + 'query_spill_limit = "1MB"\n')
    big_sort = "SELECT repeat('x', 100) || i AS pad FROM range(1500000) t(i) ORDER BY pad DESC"
    result = _invoke(["sql", "--config", str(config), *(["--lake"] if lake else []), big_sort])
    assert result.exit_code == ExitCode.STORAGE
    line = _one_error_line(result.stderr)
    assert "query_spill_limit" in line and "narrow it" in line


def test_status_on_a_corrupt_warehouse_exits_5_naming_the_file_and_the_cause(stores: tuple[Path, Path, Path]) -> None:
    """Issue 7.10: storage failures are not exit 1 ("partial, nothing urgent")."""
    config, warehouse, _ = stores
    corrupt_column(warehouse, "members", "id")
    result = _invoke(["sql", "--config", str(config), "SELECT count(DISTINCT id) FROM members"])
    assert result.exit_code == ExitCode.STORAGE == 5
    line = _one_error_line(result.stderr)
    assert str(warehouse) in line and "checksum" in line


def test_a_run_into_a_corrupt_warehouse_exits_5_naming_the_file_and_the_cause(
    simulator: SimFactory, tmp_path: Path
) -> None:
    server = simulator(projects=1, start=START, end=START + timedelta(days=2))
    config = write_config(server, tmp_path, streams=["executions"])
    first = _invoke(["backfill", "--config", str(config), "--since", "2025-01-01", "--until", "2025-01-02"],
                    server.sim.config.token)
    assert first.exit_code == 0, first.stderr
    warehouse = tmp_path / "warehouse.duckdb"
    corrupt_column(warehouse, "executions", "id")
    result = _invoke(["backfill", "--config", str(config), "--since", "2025-01-02", "--until", "2025-01-03"],
                     server.sim.config.token)
    assert result.exit_code == ExitCode.STORAGE
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(warehouse) in errors[0] and "checksum" in errors[0], result.stderr
    assert "transaction is aborted" not in errors[0]


def _harvester(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ABSTRA_API_TOKEN": "tok-not-used-0123456789"}
    command = [sys.executable, "-m", "harvester", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def _config(folder: Path, toml: bytes) -> Path:
    """`toml` with an [abstra] endpoint on a closed loopback port, so nothing can be fetched."""
    endpoint = b'endpoint = "http://127.0.0.1:9"\n'
    text = toml.replace(b"[abstra]\n", b"[abstra]\n" + endpoint) if b"[abstra]" in toml else b"[abstra]\n" + endpoint + toml
    config = folder / "harvester.toml"
    config.write_bytes(text)
    return config


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (b"[abstra]\ntimeout_seconds = inf\n", "[abstra] timeout_seconds: Input should be a finite number"),
        (b"[harvest]\nrequests_per_second = 1e-300\n", "[harvest] requests_per_second: 1e-300 is too slow"),
        (b'[warehouse]\nduckdb = "/proc/wh.duckdb"\n', "[warehouse] duckdb to a file in a writable folder"),
        (b'[harvest]\n# caf\xe9 in Latin-1\nlookback = "2h"\n', "is not UTF-8 text (byte 56): save it as UTF-8"),
    ],
    ids=["inf", "tiny-rate", "proc", "latin-1"],
)
def test_config_that_gave_a_traceback_is_one_error_line_and_exit_2(tmp_path: Path, toml: bytes, expected: str) -> None:
    """Issue 7.12, in a real process: stderr is exactly one `error:` line, exit 2."""
    result = _harvester(["run", "--config", str(_config(tmp_path, toml))], tmp_path)
    assert result.returncode == ExitCode.CONFIG, result.stderr
    assert expected in _one_error_line(result.stderr)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (b"[abstra]\ntimeout_seconds = nan\n", "[abstra] timeout_seconds: Input should be a finite number"),
        (b"[harvest]\nstreams = []\n", "[harvest] streams: is empty: list the streams to harvest"),
        (b'[harvest]\nstart = "0001-01-01"\n', "[harvest] start: 0001-01-01 is before 2015-01-01"),
        (b'[harvest]\nstart = 2014-12-31\n', "[harvest] start: 2014-12-31 is before 2015-01-01"),
        (b'[warehouse]\nquery_spill_limit = "lots"\n', "[warehouse] query_spill_limit: size 'lots' is not a size"),
    ],
    ids=["nan", "no-streams", "year-1", "2014", "spill-size"],
)
def test_config_that_was_silently_accepted_is_refused(tmp_path: Path, toml: bytes, expected: str) -> None:
    """Issue 7.14 (and a NaN timeout): an empty stream list used to harvest every stream,
    a start in year 1 to run for ever."""
    result = _invoke(["run", "--config", str(_config(tmp_path, toml))], "tok-not-used-0123456789")
    assert result.exit_code == ExitCode.CONFIG
    assert expected in _one_error_line(result.stderr)


def test_tilde_means_home_for_the_warehouse_and_the_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 7.13: `~` used to make a folder named "~" for duckdb but not for parquet."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = tmp_path / "conf" / "harvester.toml"
    config.parent.mkdir()
    config.write_text('[warehouse]\nduckdb = "~/data/wh.duckdb"\nparquet = "~/data/lake"\n')
    for settings in (load_settings(config, env={}), load_settings(None, env={}, warehouse={"duckdb": "~/data/wh.duckdb"})):
        assert settings.warehouse.duckdb == tmp_path / "home" / "data" / "wh.duckdb"
    assert load_settings(config, env={}).warehouse.parquet == str(tmp_path / "home" / "data" / "lake")
