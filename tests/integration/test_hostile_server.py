"""A hostile server must not get the token, the memory, the run or the warehouse.

Each test plays one finding of issue 7 against a small scripted server on loopback
(`tests/hostile.py`): redirects, oversized and over-full replies, giant cursors,
replies of the wrong shape, deeply nested entries and slow drips. Every test also
checks that `_runs` never stays at "running".
"""

from __future__ import annotations

import functools
import gzip
import itertools
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import duckdb
import orjson
import pytest
from aiohttp import web
from click.testing import CliRunner
from pydantic import SecretStr

from harvester.cli import main
from harvester.config import (
    AbstraSettings,
    HarvestSettings,
    Settings,
    WarehouseSettings,
)
from harvester.errors import ExitCode, RedirectError, ReplyTooLargeError
from harvester.http import transport_for
from harvester.jsonscan import SHALLOW_MAX_VALUES, structural_bytes
from harvester.runner import Backfill, Incremental, RunReport, harvest

from ..hostile import (
    TOKEN,
    Handler,
    drip,
    entry,
    hostile_server,
    page,
    redirect,
    reply_bytes,
    reply_json,
)
from .conftest import START, SimFactory, make_settings
from .truth import expected_log_ids, table_ids

END = START + timedelta(days=1)
HOSTILE = "get_auth_attempt_logs"  # the action each test bends
GOOD = "get_organization_action_logs"  # a healthy neighbour whose rows must land
STREAMS = ("auth_attempt_logs", "organization_action_logs")


def _settings(endpoint: str, path: Path, **abstra: Any) -> Settings:
    return Settings(
        abstra=AbstraSettings(endpoint=endpoint, token=SecretStr(TOKEN), **{"max_retries": 2, **abstra}),
        harvest=HarvestSettings(start=START, streams=STREAMS, page_size=100, concurrency=2),
        warehouse=WarehouseSettings(duckdb=path),
    )


def _run(handlers: dict[str, Handler], path: Path, **abstra: Any) -> RunReport:
    with hostile_server({GOOD: reply_json(page([entry(1), entry(2)])), **handlers}) as server:
        return anyio.run(harvest, _settings(server.endpoint, path, **abstra), Backfill(START, END, STREAMS))


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _run_statuses(path: Path) -> list[str]:
    return [s for (s,) in _query(path, "select status from _runs")]


def _assert_partition_failed(report: RunReport, path: Path, *needles: str) -> str:
    """The hostile partition failed with one line naming `needles`; its neighbour landed."""
    assert report.status == "partial", report.failures
    (failure,) = report.failures
    assert "\n" not in failure and TOKEN not in failure
    for needle in needles:
        assert needle in failure, failure
    assert set(table_ids(path, "organization_action_logs")) == {"e1", "e2"}
    assert _run_statuses(path) == ["partial"]
    return failure


def _by_cursor(replies: dict[str | None, Handler]) -> Handler:
    async def handler(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        return await replies[params.get("cursor")](request, params)

    return handler


# Item 1: redirects -----------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_token_never_leaves(tmp_path: Path, status: int) -> None:
    """A 3xx to another host (127.0.0.2) is an error naming the status and the host;
    the other host never hears from us, let alone gets the token."""
    path = tmp_path / "w.duckdb"
    with hostile_server({}, host="127.0.0.2") as thief:
        location = f"{thief.endpoint}/steal?secret=abc"
        with pytest.raises(RedirectError) as caught:
            _run({HOSTILE: redirect(status, location)}, path)
    message = str(caught.value)
    assert f"HTTP {status}" in message and thief.endpoint.removeprefix("http://") in message, message
    assert "steal" not in message and "secret" not in message and TOKEN not in message
    assert caught.value.exit_code == ExitCode.CONFIG
    assert thief.seen == []
    assert _run_statuses(path) == ["failed"]


def test_a_redirect_exits_with_the_configuration_code(tmp_path: Path) -> None:
    with hostile_server({}, host="127.0.0.2") as thief, hostile_server(
        {"get_organization": redirect(307, f"{thief.endpoint}/x")}
    ) as server:
        config = tmp_path / "harvester.toml"
        config.write_text(
            f'[abstra]\nendpoint = "{server.endpoint}"\n[harvest]\nstreams = ["members"]\n'
            '[warehouse]\nduckdb = "w.duckdb"\n'
        )
        result = CliRunner().invoke(
            main, ["--log-format", "json", "run", "--config", str(config)], env={"ABSTRA_API_TOKEN": TOKEN}
        )
    assert result.exit_code == ExitCode.CONFIG, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "HTTP 307" in errors[0] and "127.0.0.2" in errors[0], result.stderr
    assert thief.seen == []


# Item 4: reply size ------------------------------------------------------------------


def _gzip_bomb(inflated_mb: int) -> bytes:
    """`inflated_mb` MiB of spaces inside a JSON envelope, gzip-compressed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"status": "success", "data": {"entries": [')]
    block = b" " * (1 << 20)
    parts += [packer.compress(block) for _ in range(inflated_mb)]
    parts.append(packer.compress(b'], "nextCursor": null}}') + packer.flush())
    return b"".join(parts)


def test_a_gzip_bomb_stops_at_the_reply_cap_and_keeps_committed_pages(tmp_path: Path) -> None:
    """64 KiB of gzip inflating to 64 MiB, with an 8 MB cap: reading stops at the cap,
    the partition fails once (no retries of a too-large reply) and its first page stays."""
    bomb = _gzip_bomb(64)
    assert len(bomb) < 1 << 20 and len(gzip.decompress(bomb)) > 64 << 20
    path = tmp_path / "w.duckdb"
    pages = {
        None: reply_json(page([entry(7), entry(8)], "c1")),
        "c1": reply_bytes(bomb, headers={"Content-Encoding": "gzip"}),
    }
    report = _run({HOSTILE: _by_cursor(pages)}, path, max_reply_mb=8)
    _assert_partition_failed(report, path, "larger than max_reply_mb = 8")
    assert set(table_ids(path, "auth_attempt_logs")) == {"e7", "e8"}


def test_a_content_length_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    body = orjson.dumps(page([entry(n, pad="x" * 1000) for n in range(3000)]))  # ~3 MB
    path = tmp_path / "w.duckdb"
    with hostile_server({HOSTILE: reply_bytes(body)}) as server:
        settings = _settings(server.endpoint, path, max_reply_mb=1)
        report = anyio.run(harvest, settings, Backfill(START, END, ("auth_attempt_logs",)))
        asked = server.actions().count(HOSTILE)
    assert report.status == "partial" and asked == 1, (report.failures, asked)
    assert "larger than max_reply_mb = 1" in report.failures[0]


@pytest.mark.parametrize("value", [b"{}", b"[]", b"0"])
def test_a_reply_of_tiny_values_stops_at_the_value_cap_before_it_is_parsed(tmp_path: Path, value: bytes) -> None:
    """2,000,001 tiny entries (4-6 MB, far under the byte cap) would build as many
    Python objects in the parse (30 MB of `{}`: ~700 MB). The transport refuses them
    while reading, by the default `max_reply_values`: the partition fails once, its
    first page stays, and the message says what to raise."""
    tiny = b'{"status": "success", "data": {"entries": [' + b",".join([value] * 2_000_001) + b'], "nextCursor": null}}'
    path = tmp_path / "w.duckdb"
    pages = {None: reply_json(page([entry(7)], "c1")), "c1": reply_bytes(tiny)}
    with hostile_server({GOOD: reply_json(page([entry(1), entry(2)])), HOSTILE: _by_cursor(pages)}) as server:
        report = anyio.run(harvest, _settings(server.endpoint, path), Backfill(START, END, STREAMS))
        asked = server.actions().count(HOSTILE)
    _assert_partition_failed(report, path, "more than max_reply_values = 2,000,000", "raise max_reply_values in [abstra]")
    assert asked == 2 and set(table_ids(path, "auth_attempt_logs")) == {"e7"}


def test_ordinary_json_reaches_the_byte_cap_before_the_value_cap() -> None:
    """The default value cap is set so that ordinary records (here one `{ [ , :` byte
    in 11: an ISO time holds two) pass up to ~20 MB, near the 32 MB byte cap, while
    tiny values stop at a few MB: measured on the transport itself, over loopback."""
    record = b'{"email": "person%07d@plainlist.test", "role": "member", "joined": "2025-01-01T00:00:00.000Z"}'
    ordinary = b"[" + b",".join(record % i for i in range(220_000)) + b"]"  # ~20 MB
    assert 1_900_000 < structural_bytes(ordinary) < 2_000_000 and len(ordinary) > 20 << 20
    assert _fetch(ordinary) == ordinary
    assert "max_reply_values = 2,000,000" in str(_fetch(b"[" + b",".join([b"{}"] * 1_000_001) + b"]"))


def _fetch(body: bytes) -> bytes | str:
    """`body` as the transport of default [abstra] settings reads it, or its refusal."""

    async def read(endpoint: str) -> bytes | str:
        transport = transport_for(AbstraSettings(endpoint=endpoint), pool_size=1)
        try:
            return (await transport.request("POST", f"{endpoint}/any", {}, b"{}")).body
        except ReplyTooLargeError as exc:
            return str(exc)
        finally:
            await transport.aclose()

    with hostile_server({"*": reply_bytes(body)}) as server:
        return anyio.run(read, server.endpoint)


def test_a_reply_of_many_values_lands_when_max_reply_values_allows_it(tmp_path: Path) -> None:
    """The cap is a setting: a page of 100 real entries holding ~1,600 values is
    refused under a cap of 1,000 and lands once the cap is raised."""
    entries = [entry(n, detail={"tags": list(range(10))}) for n in range(100)]
    body = orjson.dumps(page(entries))
    path = tmp_path / "w.duckdb"
    report = _run({HOSTILE: reply_bytes(body)}, path, max_reply_values=1_000)
    _assert_partition_failed(report, path, "more than max_reply_values = 1,000")
    report = _run({HOSTILE: reply_bytes(body)}, path, max_reply_values=100_000)
    assert report.status == "ok", report.failures
    assert len(table_ids(path, "auth_attempt_logs")) == 100


def test_a_page_with_more_entries_than_the_limit_is_a_protocol_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    report = _run({HOSTILE: reply_json(page([entry(n) for n in range(101)]))}, path)
    _assert_partition_failed(report, path, "101 entries", "limit of 100")
    assert table_ids(path, "auth_attempt_logs") == {}


# Item 5: cursors ---------------------------------------------------------------------


def test_a_giant_cursor_fails_its_partition_and_never_poisons_later_runs(
    simulator: SimFactory, tmp_path: Path
) -> None:
    """Three runs against a server sending a 5 MB nextCursor, then a healthy one: the
    hostile partitions fail with a clear reason, and the healthy run lands everything."""
    path = tmp_path / "w.duckdb"
    giant = reply_json(page([entry(1)], "x" * 5_000_000))
    with hostile_server({"*": giant}) as server:
        for day in range(3):
            window = Backfill(START + timedelta(days=day), START + timedelta(days=day + 1), ("auth_attempt_logs",))
            report = anyio.run(harvest, _settings(server.endpoint, path), window)
            assert report.status == "partial"
            assert "nextCursor is 5000000 characters" in report.failures[0], report.failures
    assert _run_statuses(path) == ["partial"] * 3
    _assert_healthy_run_lands(simulator, path)


def test_giant_cursors_stored_by_an_older_version_do_not_stop_later_runs(
    simulator: SimFactory, tmp_path: Path
) -> None:
    """State written before the cap (three pending chains holding 5 MB cursors) is read
    as "restart these chains", never loaded whole."""
    path = tmp_path / "w.duckdb"
    with hostile_server({}) as server:  # creates the warehouse and three pending partitions
        for day in range(3):
            window = Backfill(START + timedelta(days=day), START + timedelta(days=day + 1), ("auth_attempt_logs",))
            anyio.run(harvest, _settings(server.endpoint, path), window)
    with duckdb.connect(str(path)) as con:
        con.execute("update _partitions set done = false, cursor = repeat('x', 5000000)")
    _assert_healthy_run_lands(simulator, path)


def _assert_healthy_run_lands(simulator: SimFactory, path: Path) -> None:
    end = START + timedelta(days=3)
    server = simulator(projects=1, start=START, end=end)
    settings = make_settings(server, path, streams=["auth_attempt_logs"])
    report = anyio.run(functools.partial(harvest, settings, Incremental(), now=end))
    assert report.status == "ok", report.failures
    expected = expected_log_ids(server.sim.org, "auth_attempt_logs", START, end)
    assert expected and expected <= set(table_ids(path, "auth_attempt_logs"))
    assert "running" not in _run_statuses(path)


def test_a_fresh_giant_cursor_on_every_page_never_leaves_the_run_running(tmp_path: Path) -> None:
    """Before the cap, a new 5 MB cursor per page ran DuckDB out of memory mid-run and
    left `_runs` at "running"; now the first one fails its partition and the run ends."""
    pages = itertools.count()

    async def giant(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        n = next(pages)
        return await reply_json(page([entry(n)], f"{n}" + "x" * 5_000_000))(request, params)

    path = tmp_path / "w.duckdb"
    report = _run({HOSTILE: giant}, path)
    _assert_partition_failed(report, path, "over the limit of 4096")


# Item 6: wrong shapes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([{"id": "e1"}], "data"),
        ("entries", "data"),
        ({"entries": {"id": "e1"}, "nextCursor": None}, "entries"),
    ],
    ids=["data-list", "data-string", "entries-object"],
)
def test_a_log_reply_of_the_wrong_shape_fails_its_partition_in_one_line(
    tmp_path: Path, data: Any, where: str
) -> None:
    path = tmp_path / "w.duckdb"
    report = _run({HOSTILE: reply_json({"status": "success", "data": data})}, path)
    _assert_partition_failed(report, path, "wrong shape", where)


def test_a_snapshot_of_the_wrong_shape_fails_that_snapshot_and_keeps_the_last_one(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    members = [{"id": "m1", "email": "a@example.com"}]
    with hostile_server({"get_members": reply_json({"status": "success", "data": members})}) as server:
        ok = anyio.run(harvest, _settings(server.endpoint, path), Backfill(START, END, ("members",)))
    assert ok.status == "ok", ok.failures
    with hostile_server({"get_members": reply_json({"status": "success", "data": "members"})}) as server:
        bad = anyio.run(harvest, _settings(server.endpoint, path), Backfill(START, END, ("members",)))
    assert bad.status == "partial" and "wrong shape" in bad.failures[0], bad.failures
    assert _query(path, "select id from members where removed_at is null") == [("m1",)]


# Item 7: deep nesting ------------------------------------------------------------------


def test_a_deeply_nested_entry_is_one_reject_and_its_page_lands(tmp_path: Path) -> None:
    deep = b'{"id": "deep", "createdAt": "2025-01-01T05:00:00.000Z", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    good = [orjson.dumps(entry(n)) for n in (1, 2, 3)]
    body = b'{"status": "success", "data": {"entries": [' + b", ".join([good[0], deep, *good[1:]]) + b"]}}"
    path = tmp_path / "w.duckdb"
    report = _run({HOSTILE: reply_bytes(body)}, path)
    assert report.status == "ok", report.failures
    assert set(table_ids(path, "auth_attempt_logs")) == {"e1", "e2", "e3"}
    ((stream, reason, raw),) = _query(path, "select stream, reason, raw from _rejects")
    assert stream == "auth_attempt_logs" and "nested" in reason, reason
    assert raw.startswith('{"id": "deep"')


def test_a_deep_entry_among_too_many_values_is_refused_before_the_slow_reading(tmp_path: Path) -> None:
    """The shallow walk that saves a page with one entry nested too deep is a Python
    loop (~10 µs and ~250 bytes a value): 2M tiny values beside a deep entry, under
    both caps of the transport, took ~32 s and ~380 MB. Beyond SHALLOW_MAX_VALUES
    the reply fails its partition at once (not retried), with a message saying so."""
    deep = b'{"id": "deep", "createdAt": "2025-01-01T05:00:00.000Z", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    body = b'{"status": "success", "data": {"entries": [' + b",".join([deep, *[b"tru"] * SHALLOW_MAX_VALUES]) + b"]}}"
    path = tmp_path / "w.duckdb"
    with hostile_server({GOOD: reply_json(page([entry(1), entry(2)])), HOSTILE: reply_bytes(body)}) as server:
        report = anyio.run(harvest, _settings(server.endpoint, path), Backfill(START, END, STREAMS))
        asked = server.actions().count(HOSTILE)
    _assert_partition_failed(report, path, "deeper than the JSON parsers allow", "more than the 500,000", "page_size")
    assert asked == 1 and table_ids(path, "auth_attempt_logs") == {}


# Item 15: slow servers -------------------------------------------------------------------


def test_a_slow_drip_is_cut_by_the_read_timeout_and_the_retry_budget(tmp_path: Path) -> None:
    """Headers, then one byte a second: each attempt ends after the read timeout, and
    the partition stops retrying when its budget is spent (not after max_retries)."""
    path = tmp_path / "w.duckdb"
    report = _run(
        {HOSTILE: drip(every=1.0)},
        path,
        timeout_seconds=5,
        read_timeout_seconds=0.3,
        retry_budget_seconds=1.5,
        max_retries=10,
    )
    _assert_partition_failed(report, path, "no data for 0.3 s", "retry budget of 1.5 s")
