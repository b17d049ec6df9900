"""`[[custom]]` streams end to end: config → the `custom` action of the simulator's
fake upstream services over loopback HTTP → `custom_<name>` tables, compared with the
services' ground truth (`sim.upstream.truth`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest
from click.testing import CliRunner, Result

from harvester.cli import main
from harvester.config import Settings, load_settings
from harvester.errors import ConfigError, ExitCode
from harvester.records import content_id
from harvester.runner import Backfill, Incremental, RunReport, harvest
from harvester.simulator import ServerHandle
from harvester.timeutil import format_wire

from ..sources.custom.spellings import SPELLINGS
from .conftest import START, SimFactory
from .test_cli import _one_line_error

END = START + timedelta(days=40)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# One stream per paging kind over the simulator's services, and how each service
# writes a record's id and time (read here independently of the harvester).
KINDS: dict[str, tuple[dict[str, Any], str | None, Callable[[dict[str, Any]], datetime]]] = {
    "cursor": ({"url": "https://api.cursorhub.test/v1/audit-log", "query": {"limit": 40}, "records": "data.items",
                "id": "id", "time": "created_at",
                "paging": {"kind": "cursor", "param": "after", "next": "meta.next_cursor"}},
               "id", lambda r: _iso(r["created_at"])),
    "page": ({"url": "https://pages.ticketly.test/api/tickets", "records": "tickets", "id": "ticket_id",
              "time": "opened_at", "page_size": 20,
              "paging": {"kind": "page", "param": "page", "start": 1, "size_param": "per_page"}},
             "ticket_id", lambda r: EPOCH + timedelta(seconds=r["opened_at"])),
    "offset": ({"url": "https://api.offsetly.test/items", "records": "results", "id": "uid", "time": "ts",
                "page_size": 25, "paging": {"kind": "offset", "param": "offset", "size_param": "limit",
                                            "total": "total"}},
               "uid", lambda r: EPOCH + timedelta(milliseconds=r["ts"])),
    "next_url": ({"url": "https://api.linkwalk.test/events", "query": {"limit": 15}, "records": "events", "id": "id",
                  "time": "at", "paging": {"kind": "next_url", "next": "links.next"}},
                 "id", lambda r: _iso(r["at"])),
    "none": ({"url": "https://api.plainlist.test/users", "time": "joined"}, None, lambda r: _iso(r["joined"])),
}
WINDOWED: dict[str, dict[str, Any]] = {
    "window": {"url": "https://logs.windowed.test/v2/logs", "query": {"limit": 5}, "records": "logs",
               "id": "log_id", "time": "created_at", "paging": {"kind": "cursor", "param": "cursor", "next": "next"},
               "window": {"from": "since", "to": "until", "format": "iso"}, "slice_days": 5},
    "epoch": {"url": "https://api.epochs.test/activity", "records": "activity", "id": "activity_id",
              "time": "time_ms", "page_size": 4, "paging": {"kind": "page", "param": "page", "size_param": "count"},
              "window": {"from": "start", "to": "end", "format": "epoch_s"}, "slice_days": 7},
}


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans are written alike


def _config(folder: Path, streams: dict[str, dict[str, Any]], **harvest: Any) -> Path:
    """Only `[[custom]]` sections (no [abstra]): the endpoint and token come from the environment."""
    lines = ["[harvest]", 'start = "2025-01-01"', *(f"{k} = {_toml(v)}" for k, v in harvest.items()),
             "[warehouse]", 'duckdb = "warehouse.duckdb"']
    for name, entry in streams.items():
        lines += ["[[custom]]", f"name = {_toml(name)}", 'connection = "sim-github"']
        lines += [f"{k} = {_toml(v)}" for k, v in entry.items() if k not in ("name",)]
    path = folder / "harvester.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env(server: ServerHandle) -> dict[str, str]:
    return {"CLOUD_API_ENDPOINT": server.endpoint, "ABSTRA_API_TOKEN": server.sim.config.token}


def _settings(server: ServerHandle, folder: Path, streams: dict[str, dict[str, Any]], **harvest: Any) -> Settings:
    return load_settings(_config(folder, streams, **harvest), env=_env(server))


def _run(settings: Settings, mode: Backfill | Incremental, now: datetime = END) -> RunReport:
    async def go() -> RunReport:
        return await harvest(settings, mode, now=now)

    return anyio.run(go)


def _stored(path: Path, table: str) -> list[tuple[str, datetime | None, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        rows = con.execute(f'select id, created_at, raw::VARCHAR from "{table}"').fetchall()
    return [(i, t, json.loads(raw)) for i, t, raw in rows]


def _expected(records: list[dict[str, Any]], id_key: str | None, when: Callable[[dict[str, Any]], datetime]) -> list:
    return sorted(
        ((str(r[id_key]) if id_key else content_id(r), when(r), r) for r in records), key=lambda row: row[0]
    )


def _invoke(server: ServerHandle | None, args: list[str]) -> Result:
    env = _env(server) if server is not None else {"ABSTRA_API_TOKEN": "unused"}
    return CliRunner().invoke(main, ["--log-format", "json", *args], env=env, catch_exceptions=False)


@pytest.fixture
def server(simulator: SimFactory) -> ServerHandle:
    return simulator(projects=1, start=START, end=END)


def test_one_stream_of_each_paging_kind_lands_exactly_the_ground_truth(server: ServerHandle, tmp_path: Path) -> None:
    settings = _settings(server, tmp_path, {name: spec for name, (spec, _, _) in KINDS.items()})
    assert settings.abstra is not None and not settings.abstra.manager_streams  # [[custom]] alone: no Manager streams
    # a message that says to raise a cap in [abstra] must not make the user start them
    assert settings.abstra.settings_location() == "[abstra] (with manager_streams = false)"
    report = _run(settings, Incremental())
    assert report.status == "ok", report.failures
    for name, (_, id_key, when) in KINDS.items():
        got = sorted(_stored(settings.warehouse.duckdb, f"custom_{name}"), key=lambda row: row[0])
        assert got == _expected(server.sim.upstream.truth(name), id_key, when), name
    assert server.sim.stats.get("action.get_organization", 0) == 0
    # read whole again: the same rows, nothing doubled
    again = _run(settings, Incremental())
    assert again.status == "ok"
    for name in KINDS:
        assert len(_stored(settings.warehouse.duckdb, f"custom_{name}")) == len(server.sim.upstream.truth(name))


def test_upstream_429_and_5xx_are_retried_and_a_4xx_fails_naming_the_stream(
    server: ServerHandle, tmp_path: Path
) -> None:
    spec, id_key, when = KINDS["cursor"]
    settings = _settings(server, tmp_path, {"audit": spec})
    server.sim.upstream.script_errors([429, 503])
    report = _run(settings, Incremental())
    assert report.status == "ok", report.failures
    truth = server.sim.upstream.truth("cursor")
    assert sorted(_stored(settings.warehouse.duckdb, "custom_audit"), key=lambda r: r[0]) == _expected(truth, id_key, when)
    pages = -(-len(truth) // 40)
    assert server.sim.stats["custom.calls"] == pages + 2

    server.sim.upstream.script_errors([404])
    failed = _run(settings, Incremental())
    assert failed.status == "partial"
    assert len(failed.failures) == 1
    assert "[[custom]] audit: " in failed.failures[0] and "status code 404" in failed.failures[0]


def test_a_windowed_stream_backfills_a_range_then_runs_incrementally(server: ServerHandle, tmp_path: Path) -> None:
    settings = _settings(server, tmp_path, WINDOWED)
    since, until = START + timedelta(days=3), START + timedelta(days=17)
    report = _run(settings, Backfill(since, until))
    assert report.status == "ok", report.failures
    for service, spec in WINDOWED.items():
        got = {r[0] for r in _stored(settings.warehouse.duckdb, f"custom_{service}")}
        want = {r[spec["id"]] for r in server.sim.upstream.truth(service, since, until)}
        assert got == want, service

    incremental = _run(settings, Incremental())
    assert incremental.status == "ok", incremental.failures
    for service, spec in WINDOWED.items():
        stored = _stored(settings.warehouse.duckdb, f"custom_{service}")
        want = {r[spec["id"]] for r in server.sim.upstream.truth(service, since, END)}
        assert sorted(r[0] for r in stored) == sorted(want), service  # from the mark on, once each


def _cli(config: Path, server: ServerHandle, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "--log-format", "json", *args, "--config", str(config)],
        env={**os.environ, **_env(server)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_a_windowed_stream_resumes_after_sigkill_to_exactly_the_truth(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=1, start=START, end=END, latency_ms=60)
    config = _config(tmp_path, {"logs": WINDOWED["window"]}, concurrency=1)
    args = ("backfill", "--since", format_wire(START), "--until", format_wire(END))
    truth = server.sim.upstream.truth("window")
    needed = sum(max(1, -(-len(server.sim.upstream.truth("window", s, s + timedelta(days=5))) // 5))
                 for s in (START + timedelta(days=d) for d in range(0, 40, 5)))
    first = _cli(config, server, *args)
    while server.sim.stats.get("custom.calls", 0) < 12 and first.poll() is None:
        time.sleep(0.02)
    assert first.poll() is None, "the backfill ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.communicate()
    before = server.sim.stats["custom.calls"]
    warehouse = tmp_path / "warehouse.duckdb"
    assert 0 < len(_stored(warehouse, "custom_logs")) < len(truth)

    second = _cli(config, server, *args)
    _, err = second.communicate(timeout=120)
    assert second.returncode == ExitCode.OK, err.decode()[-2000:]
    stored = _stored(warehouse, "custom_logs")
    assert sorted(r[0] for r in stored) == sorted(r["log_id"] for r in truth)  # all, each once
    assert server.sim.stats["custom.calls"] - before < needed  # resumed from checkpoints, not from scratch


def test_every_ssrf_spelling_in_config_is_refused_before_any_request(server: ServerHandle, tmp_path: Path) -> None:
    for url in SPELLINGS:
        config = _config(tmp_path, {"probe": {"url": url}})
        result = _invoke(server, ["run", "--config", str(config)])
        assert result.exit_code == ExitCode.CONFIG, url
        line = _one_line_error(result)
        assert "[[custom]] probe: url: " in line, line
        assert "internal IP" in line or "localhost" in line, line
    assert server.sim.stats.get("custom.calls", 0) == 0
    assert server.sim.stats.get("requests", 0) == 0


@pytest.mark.parametrize(
    ("following", "reason"),
    [("https://elsewhere.test/feed?page=2", "leaves the stream's host echo.test for elsewhere.test"),
     ("http://169.254.169.254/latest/meta-data", "targets the internal IP 169.254.169.254")],
)
def test_a_next_url_off_the_host_fails_its_partition_and_is_never_called(
    server: ServerHandle, tmp_path: Path, following: str, reason: str
) -> None:
    # The echo service answers with the request it got, so the body sent is the reply read.
    hop = {"url": "https://echo.test/feed", "method": "POST", "records": "body.items", "id": "id",
           "body": {"items": [{"id": "a"}, {"id": "b"}], "next": following},
           "paging": {"kind": "next_url", "next": "body.next"},
           "window": {"from": "since", "to": "until"}, "slice_days": 31}
    settings = _settings(server, tmp_path, {"hop": hop})
    report = _run(settings, Backfill(START, START + timedelta(days=10)))
    assert report.status == "partial"
    (failure,) = report.failures
    assert failure.startswith("custom_hop [") and "[[custom]] hop: next_url refused: " in failure, failure
    assert reason in failure and "\n" not in failure
    assert server.sim.stats["custom.calls"] == 1
    assert [r.url for r in server.sim.upstream.received] == ["https://echo.test/feed?since=2025-01-01T00%3A00%3A00.000Z&until=2025-01-11T00%3A00%3A00.000Z"]
    assert sorted(r[0] for r in _stored(settings.warehouse.duckdb, "custom_hop")) == ["a", "b"]


def test_a_database_connection_is_a_one_line_config_error(server: ServerHandle, tmp_path: Path) -> None:
    config = _config(tmp_path, {"pg": KINDS["none"][0]})
    config.write_text(config.read_text().replace('"sim-github"', '"sim-postgres"'))
    result = _invoke(server, ["run", "--config", str(config)])
    assert result.exit_code == ExitCode.CONFIG
    line = _one_line_error(result)
    assert line.startswith("error: [[custom]] pg: ")
    assert 'Connector "postgres" does not support the "custom" action.' in line


def test_custom_streams_beside_abstra_keep_the_manager_streams_and_are_named_by_table(tmp_path: Path) -> None:
    from harvester.sources.registry import build_sources, resolve_streams

    config = _config(tmp_path, {"audit": KINDS["cursor"][0], "logs": WINDOWED["window"]})
    config.write_text("[abstra]\n" + config.read_text())
    settings = load_settings(config, env={})
    assert settings.abstra is not None and settings.abstra.manager_streams
    assert settings.abstra.settings_location() == "[abstra]"
    sources = build_sources(settings)
    assert [s.name for s in sources] == ["abstra", "custom"]
    chosen = resolve_streams(sources, ["custom_logs"])
    assert [(s.name, s.windowed) for s in chosen["custom"]] == [("custom_logs", True)] and not chosen["abstra"]
    assert [s.windowed for s in sources[1].streams] == [False, True]
    with pytest.raises(ConfigError, match="unknown stream 'audit'"):
        load_settings(config, env={}, harvest={"streams": ["audit"]})


def test_a_bad_entry_is_a_config_error_naming_the_stream(tmp_path: Path) -> None:
    config = _config(tmp_path, {"audit": {"url": "https://api.cursorhub.test/v1/audit-log", "pagin": {}}})
    with pytest.raises(ConfigError, match=r"\[\[custom\]\] audit: pagin: unknown key"):
        load_settings(config, env={})


def test_call_custom_prints_data_and_refuses_an_internal_url_without_a_request(server: ServerHandle) -> None:
    url = "https://api.cursorhub.test/v1/audit-log"
    result = _invoke(server, ["call", "--custom", "sim-github", url, "--query", "limit=3"])
    assert result.exit_code == ExitCode.OK, result.stderr
    assert json.loads(result.stdout) == {"data": {"items": server.sim.upstream.truth("cursor")[:3]},
                                         "meta": {"next_cursor": "cG9zOjM"}}
    echoed = _invoke(server, ["call", "--custom", "sim-github", "https://echo.test/x", "--method", "get",
                              "--header", "X-Trace=abc", "q=1"])
    assert json.loads(echoed.stdout)["url"] == "https://echo.test/x?q=1"
    assert json.loads(echoed.stdout)["headers"] == {"X-Trace": "abc"}
    calls = server.sim.stats["custom.calls"]

    refused = _invoke(server, ["call", "--custom", "sim-github", "http://0x7f.1/admin"])
    assert refused.exit_code == ExitCode.CONFIG
    assert "targets the internal IP 127.0.0.1" in _one_line_error(refused)
    assert server.sim.stats["custom.calls"] == calls
