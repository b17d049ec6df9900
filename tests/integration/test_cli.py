"""The CLI over a real simulator: exit codes, one-line errors, read-only SQL, secrecy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harvester.cli import main
from harvester.errors import ExitCode
from state.lock import RunLock

from .conftest import START, SimFactory, write_config


def _invoke(args: list[str], token: str | None) -> Result:
    env = {"ABSTRA_API_TOKEN": token} if token is not None else {"ABSTRA_API_TOKEN": ""}
    return CliRunner().invoke(main, ["--log-format", "json", *args], env=env, catch_exceptions=False)


def _one_line_error(result: Result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def small(simulator: SimFactory, tmp_path: Path):
    server = simulator(projects=2, start=START, end=START + timedelta(days=3))
    return server, write_config(server, tmp_path, streams=["auth_attempt_logs", "members", "organization"])


def test_backfill_then_status_then_sql(small) -> None:
    server, config = small
    token = server.sim.config.token
    done = _invoke(["backfill", "--config", str(config), "--since", "2025-01-01", "--until", "2025-01-04"], token)
    assert done.exit_code == ExitCode.OK, done.stderr
    assert "auth_attempt_logs" in done.stdout
    status = _invoke(["status", "--config", str(config)], token)
    assert status.exit_code == 0 and "auth_attempt_logs" in status.stdout
    expected = sum(1 for _ in server.sim.org.log_entries("auth_attempt_logs", START, START + timedelta(days=3)))
    sql = _invoke(["sql", "--config", str(config), "--format", "csv", "select count(*) as n from auth_attempt_logs"], None)
    assert sql.exit_code == 0, sql.stderr
    assert sql.stdout.splitlines() == ["n", str(expected)]


@pytest.mark.parametrize(
    "statement",
    [
        "create table x(a int)",
        "insert into members (id) values ('x')",
        "attach '/tmp/other.duckdb' as other",
        "copy members to '/tmp/members.csv'",
    ],
)
def test_sql_cannot_modify_or_attach(small, statement: str) -> None:
    server, config = small
    _invoke(["backfill", "--config", str(config), "--since", "2025-01-01", "--until", "2025-01-02"], server.sim.config.token)
    result = _invoke(["sql", "--config", str(config), statement], None)
    assert result.exit_code != 0
    _one_line_error(result)


def test_a_bad_token_is_an_auth_error_that_names_the_variable_and_hides_the_token(small) -> None:
    _, config = small
    secret = "tok-SECRET-123456"
    result = _invoke(["run", "--config", str(config)], secret)
    assert result.exit_code == ExitCode.AUTH
    line = _one_line_error(result)
    assert "ABSTRA_API_TOKEN" in line
    assert secret not in result.stderr + result.stdout


def test_a_missing_token_is_a_config_error(small) -> None:
    _, config = small
    result = _invoke(["run", "--config", str(config)], None)
    assert result.exit_code == ExitCode.CONFIG
    assert "ABSTRA_API_TOKEN" in _one_line_error(result)


def test_an_unknown_connection_is_a_config_error(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=1, start=START, end=START + timedelta(days=1))
    config = write_config(server, tmp_path)
    config.write_text(config.read_text().replace("[abstra]\n", '[abstra]\nconnection = "no-such-connection"\n'))
    result = _invoke(["run", "--config", str(config)], server.sim.config.token)
    assert result.exit_code == ExitCode.CONFIG
    line = _one_line_error(result)
    assert "no-such-connection" in line and "connection" in line


def test_a_refused_window_surfaces_the_servers_message(small) -> None:
    server, config = small
    result = _invoke(
        ["call", "--config", str(config), "get_auth_attempt_logs",
         "from=2025-01-01T00:00:00.000Z", "to=2025-03-01T00:00:00.000Z"],
        server.sim.config.token,
    )
    assert result.exit_code == ExitCode.PARTIAL
    assert "31 days" in _one_line_error(result)


def test_call_prints_data_and_mutations_need_yes(small) -> None:
    server, config = small
    token = server.sim.config.token
    members = _invoke(["call", "--config", str(config), "get_members"], token)
    assert members.exit_code == 0 and '"email"' in members.stdout
    refused = _invoke(["call", "--config", str(config), "add_member", "email=new@example.com"], token)
    assert refused.exit_code == ExitCode.CONFIG and "--yes" in _one_line_error(refused)
    added = _invoke(["call", "--config", str(config), "add_member", "email=new@example.com", "--yes"], token)
    assert added.exit_code == 0, added.stderr
    assert any(m["email"] == "new@example.com" for m in server.sim.org.members())


def test_a_second_run_on_a_locked_warehouse_exits_at_once(small) -> None:
    server, config = small
    with RunLock(config.parent / "warehouse.duckdb"):
        result = _invoke(["run", "--config", str(config)], server.sim.config.token)
    assert result.exit_code == ExitCode.LOCKED
    assert "another harvester run" in _one_line_error(result)
    assert server.sim.stats.get("requests", 0) == 0, "nothing was fetched"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2025-02-01", "--until", "2025-01-01"], "not before"),
        (["--since", "2025-01-01", "--until", "2025-01-01"], "not before"),
        (["--since", "yesterday"], "YYYY-MM-DD"),
        (["--since", "2025-01-01", "--streams", "auth_attempt_logs,nope"], "unknown stream 'nope'"),
    ],
)
def test_bad_backfill_arguments_are_one_line_config_errors(small, args: list[str], message: str) -> None:
    server, config = small
    result = _invoke(["backfill", "--config", str(config), *args], server.sim.config.token)
    assert result.exit_code == ExitCode.CONFIG
    assert message in _one_line_error(result)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[harvest]\nconcurrency = -1\n", "concurrency"),
        ("[harvest]\nlookbak = \"2h\"\n", "lookbak"),
        ("[harvest]\nslice_days = 45\n", "slice_days"),
    ],
)
def test_bad_config_is_a_one_line_config_error(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "h.toml"
    config.write_text(toml)
    result = _invoke(["run", "--config", str(config)], "t")
    assert result.exit_code == ExitCode.CONFIG
    assert message in _one_line_error(result)


def test_every_command_has_help_with_an_example() -> None:
    for name, command in main.commands.items():
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert f"harvester {name}" in result.output, f"{name} --help has no example"
