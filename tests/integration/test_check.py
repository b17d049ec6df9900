"""`harvester check` over loopback: every line ✓ on a good setup, and each failure mode
its own ✗ line and exit code (auth 3, config 2, the rest 1)."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from harvester.check import exit_code_of, render, run_checks
from harvester.check_abstra import EXPECTED_ACTIONS
from harvester.cli import main
from harvester.config import AbstraSettings, FlowsSettings, Settings, WarehouseSettings
from harvester.errors import ExitCode
from harvester.simulator import ServerHandle
from harvester.sources.custom.config import CustomStream
from harvester.sources.flows.simdata import FlowsSimConfig
from harvester.sources.flows.simulator import FlowsServer
from state.lock import RunLock

from .conftest import SimFactory

SECRET = "tok-SECRET-0123456789"


def _config(folder: Path, endpoint: str, *, abstra: str = "", warehouse: str = 'duckdb = "w/warehouse.duckdb"',
            harvest: str = "") -> Path:
    text = f'[abstra]\nendpoint = "{endpoint}"\n{abstra}\n[harvest]\n{harvest}\n[warehouse]\n{warehouse}\n'
    path = folder / "harvester.toml"
    path.write_text(text)
    return path


def _check(config: Path, token: str) -> Result:
    return CliRunner().invoke(main, ["--log-format", "json", "check", "--config", str(config)],
                              env={"ABSTRA_API_TOKEN": token}, catch_exceptions=False)


def _line(result: Result, prefix: str) -> str:
    found = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, result.stdout
    return found[0]


def _good(simulator: SimFactory, **config: object) -> ServerHandle:
    return simulator(projects=2, **config)


def test_a_good_setup_passes_every_check_and_exits_0(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    config = _config(tmp_path, server.endpoint, warehouse='duckdb = "w/warehouse.duckdb"\nparquet = "lake"')
    result = _check(config, server.sim.config.token)
    assert result.exit_code == ExitCode.OK, result.stdout
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("✓ ") for line in lines), result.stdout
    names = [line.split(":")[0] for line in lines]
    assert names == [f"✓ [abstra] {n}" for n in ("endpoint", "token", "clock", "connection", "actions", "window")] + [
        "✓ [warehouse] duckdb", "✓ [warehouse] parquet"]
    assert f"{len(EXPECTED_ACTIONS)} of the 16 expected actions offered" in result.stdout
    assert "accepts a 31-day window" in result.stdout
    assert server.sim.stats.get("action.get_organization_action_logs") == 1  # one log call, nothing harvested
    assert not (tmp_path / "w").exists() and not (tmp_path / "lake").exists()  # nothing created


def test_a_refused_token_is_exit_3_naming_the_variable_never_the_token(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    result = _check(_config(tmp_path, server.endpoint), SECRET)
    assert result.exit_code == ExitCode.AUTH
    assert "refused by the API (HTTP 401)" in _line(result, "✗ [abstra] token:")
    assert "ABSTRA_API_TOKEN" in _line(result, "✗ [abstra] token:")
    assert SECRET not in result.stdout + result.stderr


def test_a_missing_token_is_a_config_problem(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    result = _check(_config(tmp_path, server.endpoint), "")
    assert result.exit_code == ExitCode.CONFIG
    assert "ABSTRA_API_TOKEN is not set" in _line(result, "✗ [abstra] token:")


def test_an_unknown_connection_is_exit_2_listing_the_known_ones(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    result = _check(_config(tmp_path, server.endpoint, abstra='connection = "abstra-manger"'), server.sim.config.token)
    assert result.exit_code == ExitCode.CONFIG
    line = _line(result, "✗ [abstra] connection:")
    assert "'abstra-manger' not found" in line and "abstra-manager" in line and "[abstra] connection" in line
    assert "[abstra] window" not in result.stdout  # nothing asked of a connection that is not there


def test_a_connection_of_another_type_is_exit_2(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    result = _check(_config(tmp_path, server.endpoint, abstra='connection = "sim-github"'), server.sim.config.token)
    assert result.exit_code == ExitCode.CONFIG
    assert "'sim-github' is a 'github' connection, not an Abstra Manager one" in _line(result, "✗ [abstra] connection:")


def test_a_renamed_and_a_missing_action_are_named_and_exit_1(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator, renamed_actions={"get_organization_action_logs": "get_action_logs"},
                   hidden_actions=("get_project_consumption", "add_member"))
    result = _check(_config(tmp_path, server.endpoint), server.sim.config.token)
    assert result.exit_code == ExitCode.PARTIAL
    renamed = _line(result, "✗ [abstra] action get_organization_action_logs:")
    assert "missing; renamed? the connection offers get_action_logs" in renamed
    assert "organization_action_logs would fail" in renamed
    missing = _line(result, "✗ [abstra] action get_project_consumption:")
    assert "renamed?" not in missing and "consumption would fail" in missing
    assert "(not read by this config)" in _line(result, "! [abstra] action add_member:")
    assert "13 of the 16 expected actions offered" in _line(result, "✓ [abstra] actions:")


def test_a_missing_action_no_configured_stream_reads_only_warns(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator, hidden_actions=("get_project_consumption", "add_member"))
    config = _config(tmp_path, server.endpoint, harvest='streams = ["auth_attempt_logs", "members"]')
    result = _check(config, server.sim.config.token)
    assert result.exit_code == ExitCode.OK, result.stdout
    assert "missing (not read by this config)" in _line(result, "! [abstra] action get_project_consumption:")
    assert "✗" not in result.stdout


def test_a_refused_31_day_window_shows_the_servers_message_and_exits_1(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator, max_window_days=30)
    result = _check(_config(tmp_path, server.endpoint), server.sim.config.token)
    assert result.exit_code == ExitCode.PARTIAL
    line = _line(result, "✗ [abstra] window:")
    assert "a 31-day window was refused" in line and "Date range cannot exceed 30 days" in line
    assert "[harvest] slice_days" in line


def test_a_skewed_clock_fails_and_a_small_skew_passes(simulator: SimFactory, tmp_path: Path) -> None:
    behind = _good(simulator, date_skew_seconds=-900)
    result = _check(_config(tmp_path, behind.endpoint), behind.sim.config.token)
    assert result.exit_code == ExitCode.PARTIAL
    line = _line(result, "✗ [abstra] clock:")
    assert "s ahead of the server" in line and "NTP" in line
    slightly = _good(simulator, date_skew_seconds=120)
    result = _check(_config(tmp_path, slightly.endpoint), slightly.sim.config.token)
    assert result.exit_code == ExitCode.OK, result.stdout
    assert "behind the server (limit 5 min)" in _line(result, "✓ [abstra] clock:")


def test_an_unwritable_warehouse_folder_is_exit_2(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    (tmp_path / "afile").write_text("not a folder")
    config = _config(tmp_path, server.endpoint, warehouse='duckdb = "afile/warehouse.duckdb"\nparquet = "afile/lake"')
    result = _check(config, server.sim.config.token)
    assert result.exit_code == ExitCode.CONFIG
    assert "is a file" in _line(result, "✗ [warehouse] duckdb:")
    assert "[warehouse] duckdb" in _line(result, "✗ [warehouse] duckdb:").split("fix:")[1]
    assert "is a file" in _line(result, "✗ [warehouse] parquet:")


def test_a_warehouse_held_by_a_run_is_news_not_a_failure(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    config = _config(tmp_path, server.endpoint)
    (tmp_path / "w").mkdir()
    with RunLock(tmp_path / "w" / "warehouse.duckdb"):
        result = _check(config, server.sim.config.token)
    assert result.exit_code == ExitCode.OK, result.stdout
    assert "in use by a run right now (pid " in _line(result, "! [warehouse] duckdb:")
    assert not (tmp_path / "w" / "warehouse.duckdb").exists()  # never opened


@contextmanager
def _self_signed_https(folder: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate nobody trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a self-signed certificate)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_untrusted_certificate_is_a_tls_failure(tmp_path: Path) -> None:
    with _self_signed_https(tmp_path) as endpoint:
        result = _check(_config(tmp_path, endpoint), SECRET)
    assert result.exit_code == ExitCode.PARTIAL
    line = _line(result, "✗ [abstra] endpoint:")
    assert "TLS failed for 127.0.0.1:" in line and "certificate" in line
    assert "[abstra] token" not in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_an_endpoint_nothing_listens_on_is_unreachable(tmp_path: Path) -> None:
    result = _check(_config(tmp_path, "http://127.0.0.1:9"), SECRET)
    assert result.exit_code == ExitCode.PARTIAL
    assert "cannot reach http://127.0.0.1:9" in _line(result, "✗ [abstra] endpoint:")


def _lines(settings: Settings) -> tuple[list[str], ExitCode]:
    checks = anyio.run(run_checks, settings)
    return [render(c) for c in checks], exit_code_of(checks)


def test_each_custom_streams_connection_must_exist_and_offer_custom(simulator: SimFactory, tmp_path: Path) -> None:
    server = _good(simulator)
    url = "https://api.example.com/audit"
    settings = Settings(
        abstra=AbstraSettings(endpoint=server.endpoint, token=SecretStr(server.sim.config.token), manager_streams=False),
        warehouse=WarehouseSettings(duckdb=tmp_path / "w.duckdb"),
        custom=tuple(CustomStream(name=n, connection=c, url=url)
                     for n, c in (("gh", "sim-github"), ("db", "sim-postgres"), ("nope", "sim-gone"))),
    )
    lines, code = _lines(settings)
    assert code == ExitCode.CONFIG
    assert "✓ [[custom]] gh: connection 'sim-github' (github) offers the custom action" in lines
    assert any(x.startswith("✗ [[custom]] db: connection 'sim-postgres' (postgres) does not offer") for x in lines)
    assert any(x.startswith("✗ [[custom]] nope: connection 'sim-gone' not found") for x in lines)
    assert not any("[abstra] connection" in x for x in lines)  # manager_streams = false: no Manager checks


def _flows(endpoint: str, token: str, tmp_path: Path, tenants: tuple[str, ...]) -> Settings:
    return Settings(flows=FlowsSettings(endpoint=endpoint, token=SecretStr(token), tenants=tenants),
                    warehouse=WarehouseSettings(duckdb=tmp_path / "w.duckdb"))


def test_flows_checks_each_tenant_and_a_refused_token_is_exit_3(tmp_path: Path) -> None:
    async def both() -> list[tuple[list[str], ExitCode]]:
        async with FlowsServer(FlowsSimConfig()) as server:
            token = server.sim.config.token
            results = []
            for given in (token, SECRET):
                checks = await run_checks(_flows(server.endpoint, given, tmp_path, ("tenant-1", "tenant-2")))
                results.append(([render(c) for c in checks], exit_code_of(checks)))
            return results

    (good, good_code), (bad, bad_code) = anyio.run(both)
    assert good_code == ExitCode.OK, good
    assert [x.split(":")[0] for x in good] == ["✓ [flows] endpoint", "✓ [flows] token", "✓ [flows] tenant tenant-1",
                                               "✓ [flows] tenant tenant-2", "✓ [warehouse] duckdb"]
    assert bad_code == ExitCode.AUTH
    assert any(x.startswith("✗ [flows] token: refused by the API (HTTP 401)") and "FLOWS_API_TOKEN" in x for x in bad)
    assert not any(SECRET in x for x in bad)


def test_automations_checks_each_workspace_and_its_token(tmp_path: Path) -> None:
    simulator = pytest.importorskip("harvester.sources.automations.simulator", reason="the automations simulator is not merged yet")
    from harvester.config import AutomationsSettings

    def settings(endpoint: str, token: str, workspaces: tuple[str, ...]) -> Settings:
        api = AutomationsSettings(endpoint=endpoint, token=SecretStr(token), organization_id="org-1", workspaces=workspaces)
        return Settings(automations=api, warehouse=WarehouseSettings(duckdb=tmp_path / "w.duckdb"))

    async def cases() -> list[list]:
        async with simulator.AutomationsServer() as server:
            token = server.sim.config.token
            out = []
            for given, workspaces in ((token, ("ws-1", "ws-2")), (SECRET, ("ws-1",)), (token, ("ws-1", "ws-9"))):
                checks = await run_checks(settings(server.endpoint, given, workspaces))
                out.append([[render(c) for c in checks], exit_code_of(checks), server.sim.stats.get("mutating", 0)])
            return out

    (good, good_code, _), (bad, bad_code, _), (unknown, unknown_code, mutating) = anyio.run(cases)
    assert good_code == ExitCode.OK, good
    assert "✓ [automations] workspace ws-2: answers" in good
    assert bad_code == ExitCode.AUTH and any("AUTOMATIONS_API_TOKEN" in x for x in bad)
    assert unknown_code == ExitCode.CONFIG
    assert any(x.startswith("✗ [automations] workspace ws-9: not found (HTTP 404)") for x in unknown)
    assert mutating == 0
