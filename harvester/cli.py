"""`harvester`: a thin shell over the library. Each command parses, calls one function,
prints, and maps errors to exit codes (see `errors.ExitCode`).

Examples (each command's --help has more):

    harvester demo
    harvester backfill --config harvester.toml --since 2025-01-01 --until 2025-12-31
    harvester check --config harvester.toml
    harvester run --config harvester.toml
    harvester status --config harvester.toml
    harvester sql --config harvester.toml "select event, count(*) from project_action_logs group by 1"
    harvester export --config harvester.toml --full
    harvester call --config harvester.toml get_members
    harvester call --config harvester.toml --custom my-github https://api.github.com/orgs/acme/audit-log
    harvester report --config harvester.toml --days 30 --out report.html
    harvester simulate --port 8765
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click
import orjson

from .config import Settings, load_settings
from .errors import ConfigError, ExitCode, HarvestError, first_harvest_error
from .logs import configure_logging
from .modes import Backfill, Incremental
from .output import print_report, print_rows, print_status
from .progress import RunProgress, describe, progress_view
from .timeutil import parse_user_instant, utc_now

if TYPE_CHECKING:
    from .runner import RunReport

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="TOML config file (see config.example.toml). Without it, defaults apply.",
    )(fn)


def _fail(exc: HarvestError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(int(exc.exit_code))


def _handles_errors(fn: F) -> F:
    """Turn deliberate errors into one line on stderr and their exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HarvestError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("interrupted: everything committed so far is kept; run again to resume", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default="auto",
              help="auto: readable on a terminal, JSON lines otherwise (cron).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.pass_context
def main(ctx: click.Context, log_format: str, log_level: str) -> None:
    """Harvest automation platforms' audit logs, executions and inventory into DuckDB."""
    ctx.obj = {"json": None if log_format == "auto" else log_format == "json", "level": log_level}


T = TypeVar("T")


def _interruptible(fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn` so that SIGTERM or SIGINT cancels it cleanly: the pages being
    committed finish, the run is recorded as interrupted, and we exit 130."""
    interrupted = False

    async def main() -> list[T]:
        nonlocal interrupted
        result: list[T] = []
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        interrupted = True
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(watch)
            result.append(await fn())
            tg.cancel_scope.cancel()
        return result

    try:
        result = anyio.run(main)
    except BaseExceptionGroup as group:
        error = first_harvest_error(group)
        if error is None:
            raise
        raise error from None
    if interrupted or not result:
        raise KeyboardInterrupt
    return result[0]


def _settings(ctx: click.Context, config_path: Path | None, **overrides: Any) -> Settings:
    settings = load_settings(config_path, **overrides)
    configure_logging(json=ctx.obj["json"], level=ctx.obj["level"], secrets=settings.secrets())
    return settings


def _harvest(settings: Settings, mode: Backfill | Incremental) -> RunReport:
    from .runner import harvest
    from .sources.registry import build_sources, resolve_streams

    settings.require_tokens()
    resolve_streams(build_sources(settings), mode.streams or settings.harvest.streams)  # names checked up front

    async def go() -> RunReport:
        progress = RunProgress()
        async with progress_view(progress, settings.harvest.progress_seconds):
            return await harvest(settings, mode, progress=progress)

    return _interruptible(go)


def _exit_for(report: RunReport) -> None:
    print_report(report)
    if report.status != "ok":
        sys.exit(int(ExitCode.PARTIAL))


@main.command()
@_config_option
@click.option("--streams", default=None, help="Comma-separated stream or table names, of any source. Default: the configured ones.")
@click.option("--full", is_flag=True, help="Re-read what sources skip as unchanged (e.g. automations' revisions).")
@click.pass_context
@_handles_errors
def run(ctx: click.Context, config_path: Path | None, streams: str | None, full: bool) -> None:
    """Incremental harvest: every stream from its high-water mark (minus lookback) to now.

    \b
    Safe from cron: a second run on the same warehouse exits 4 at once; a killed run
    resumes from its last committed page.
      harvester run --config harvester.toml
      harvester run --config harvester.toml --streams automations,flow_logs --full
    """
    _exit_for(_harvest(_settings(ctx, config_path), Incremental(_names(streams), full)))


@main.command()
@_config_option
@click.pass_context
@_handles_errors
def check(ctx: click.Context, config_path: Path | None) -> None:
    """Check a setup before harvesting: every configured source and the storage.

    \b
    One line per check, ✓ or ✗ (with the fix) or ! (worth a look); nothing is harvested.
    Exit 0 when all pass; else 3 (a token refused), 2 (a config problem) or 1 (the rest).
      harvester check --config harvester.toml
      ABSTRA_API_TOKEN=... harvester check --config harvester.toml && harvester backfill --config harvester.toml --since 2025-01-01
    """
    from .check import exit_code_of, render, run_checks

    settings = _settings(ctx, config_path)
    checks = _interruptible(lambda: run_checks(settings))
    for line in map(render, checks):
        click.echo(line)
    code = exit_code_of(checks)
    if code is not ExitCode.OK:
        sys.exit(int(code))


@main.command()
@_config_option
@click.option("--since", required=True, help="Start, inclusive: YYYY-MM-DD or ISO-8601 (UTC).")
@click.option("--until", default=None, help="End, exclusive: YYYY-MM-DD or ISO-8601 (UTC). Default: now.")
@click.option("--streams", default=None, help="Comma-separated stream or table names, of any source. Default: the configured ones.")
@click.pass_context
@_handles_errors
def backfill(ctx: click.Context, config_path: Path | None, since: str, until: str | None, streams: str | None) -> None:
    """Harvest a date range [since, until). Re-running the same range resumes it.

    \b
      harvester backfill --config harvester.toml --since 2025-01-01 --until 2025-12-31
      harvester backfill --config harvester.toml --since 2025-06-01 --streams auth_attempt_logs
    """
    settings = _settings(ctx, config_path)
    mode = _backfill_mode(since, until, streams)
    _exit_for(_harvest(settings, mode))


def _names(streams: str | None) -> tuple[str, ...] | None:
    """`--streams a,b`: stream or table names of any enabled source (checked by the runner)."""
    names = tuple(s.strip() for s in streams.split(",") if s.strip()) if streams else ()
    if streams is not None and not names:
        raise ConfigError("--streams names no stream: give stream or table names, comma-separated")
    return names or None


def _backfill_mode(since: str, until: str | None, streams: str | None) -> Backfill:
    try:
        start = parse_user_instant(since, what="--since")
        end = parse_user_instant(until, what="--until") if until else utc_now()
        names = _names(streams)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if end <= start:
        raise ConfigError(f"--since {since} is not before --until {until or 'now'}: give a non-empty range")
    return Backfill(start, end, names)


@main.command()
@_config_option
@click.pass_context
@_handles_errors
def status(ctx: click.Context, config_path: Path | None) -> None:
    """Per stream: covered-until mark, lag behind now, rows, last run.

    During a run the run itself answers, from committed rows, and adds its progress:
    partitions done/total, rows so far, rows/s, ETA, per source.

    \b
      harvester status --config harvester.toml
    """
    from sinks import Warehouse

    from .live import ask_live, read_during_runs

    settings = _settings(ctx, config_path)
    path = settings.warehouse.duckdb

    def local() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        with Warehouse.open_read_only(path) as warehouse:
            return warehouse.status(utc_now()), None

    def live() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        answer = ask_live(path, {"op": "status"})
        return answer.status, answer.run

    tables, run = read_during_runs(path, local, live)
    print_status(tables)
    if run is not None:
        click.echo(f"run {run['run_id']} is running")
        click.echo("\n".join(describe(run)))


@main.command()
@_config_option
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--lake", is_flag=True, help="Query the Parquet lake ([warehouse] parquet) instead of the DuckDB file.")
@click.pass_context
@_handles_errors
def sql(ctx: click.Context, config_path: Path | None, query: str, fmt: str, lake: bool) -> None:
    """Run a read-only SQL query on the warehouse (or, with --lake, on the Parquet lake).

    The connection can read the warehouse (or the lake) and nothing else: no statement
    can write a file or a table, attach, install or change a setting. During a run the
    run answers from committed rows (one SELECT or EXPLAIN SELECT; at most 100,000 rows).

    \b
      harvester sql --config harvester.toml "select count(*) from auth_attempt_logs where status <> 'success'"
      harvester sql --config harvester.toml --format csv "select * from members" > members.csv
      harvester sql --config harvester.toml --lake "select count(*) from executions"   # same SQL, lake files
    """
    settings = _settings(ctx, config_path)
    if lake:
        from sinks.lake import query_lake

        columns, rows = query_lake(_lake_root(settings), query, spill_limit=settings.warehouse.query_spill_limit)
    else:
        columns, rows = _warehouse_query(settings, query)
    print_rows(columns, rows, fmt)


def _warehouse_query(settings: Settings, query: str) -> tuple[list[str], list[Any]]:
    """The file opened read-only, or, during a run, the run's answer (cut rows are said
    on stderr: the full result is there after the run, or in the lake)."""
    from sinks import Warehouse

    from .live import MAX_ROWS, ask_live, read_during_runs

    path = settings.warehouse.duckdb

    def local() -> tuple[list[str], list[Any]]:
        with Warehouse.open_read_only(path, spill_limit=settings.warehouse.query_spill_limit) as warehouse:
            return warehouse.query(query)

    def live() -> tuple[list[str], list[Any]]:
        answer = ask_live(path, {"op": "sql", "sql": query})
        if answer.truncated:
            click.echo(
                f"note: a run is writing; its answer stops at {len(answer.rows):,} rows (at most {MAX_ROWS:,}); "
                "query after the run, or the lake with --lake", err=True,
            )
        return answer.columns, answer.rows

    return read_during_runs(path, local, live)


@main.command()
@_config_option
@click.option("--tables", default=None, help="Comma-separated table names. Default: every table.")
@click.option("--since", default=None, help="Also rewrite day partitions from here: YYYY-MM-DD or ISO-8601 (UTC).")
@click.option("--until", default=None, help="... up to here, exclusive: YYYY-MM-DD or ISO-8601 (UTC).")
@click.option("--full", is_flag=True, help="Rewrite every partition of the tables.")
@click.pass_context
@_handles_errors
def export(
    ctx: click.Context, config_path: Path | None, tables: str | None, since: str | None, until: str | None, full: bool
) -> None:
    """Bring the Parquet lake ([warehouse] parquet) in line with the warehouse, or rebuild part of it.

    \b
    Without options only partitions that changed since the last sync are rewritten
    (what every run and backfill does on its own when a lake is configured).
      harvester export --config harvester.toml
      harvester export --config harvester.toml --full
      harvester export --config harvester.toml --tables executions,consumption --since 2025-06-01 --until 2025-07-01
    """
    from sinks.lake import mirror
    from state.lock import RunLock

    settings = _settings(ctx, config_path)
    root = _lake_root(settings)
    try:
        start = parse_user_instant(since, what="--since") if since else None
        end = parse_user_instant(until, what="--until") if until else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    names = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    with RunLock(settings.warehouse.duckdb):  # no run writes the warehouse (or the lake) meanwhile
        rewritten = mirror(
            settings.warehouse.duckdb, root, tables=names, since=start, until=end, full=full,
            memory_limit=settings.warehouse.memory_limit,
        )
    print_rows(["table", "partitions_rewritten"], sorted(rewritten.items()), "table")


def _lake_root(settings: Settings) -> str:
    if not settings.warehouse.parquet:
        raise ConfigError('no Parquet lake configured: set [warehouse] parquet = "lake/" (or s3://bucket/prefix)')
    return settings.warehouse.parquet


@main.command()
@_config_option
@click.argument("action")
@click.argument("params", nargs=-1)
@click.option("--yes", is_flag=True, help="Confirm an action (or a custom PUT, PATCH, DELETE) that changes something.")
@click.option("--custom", "connection", default=None, metavar="CONNECTION",
              help="Make one `custom` call on this HTTP connection; ACTION is then the URL.")
@click.option("--method", default=None, help="With --custom: the HTTP method (default as the connector decides).")
@click.option("--query", multiple=True, metavar="K=V", help="With --custom: a query parameter (repeatable).")
@click.option("--header", multiple=True, metavar="K=V", help="With --custom: a request header (repeatable).")
@click.option("--source", type=click.Choice(["automations", "flows"]), default=None,
              help="Call this source's API instead: ACTION is a path, read with GET only; key=value are the query.")
@click.pass_context
@_handles_errors
def call(
    ctx: click.Context, config_path: Path | None, action: str, params: tuple[str, ...], yes: bool,
    connection: str | None, method: str | None, query: tuple[str, ...], header: tuple[str, ...], source: str | None,
) -> None:
    """Call any action and print its data as JSON. Values are JSON when they parse.

    \b
      harvester call --config h.toml get_members
      harvester call --config h.toml get_project_executions projectId=p1 from=2025-05-01T00:00:00.000Z to=2025-05-02T00:00:00.000Z limit=5
      harvester call --config h.toml add_member email=ada@example.com --yes
      harvester call --config h.toml --custom my-github https://api.github.com/orgs/acme/audit-log --query per_page=5
      harvester call --config h.toml --source flows /logs "filter[tenant]=tenant-1" showErrors=true
      harvester call --config h.toml --source automations /api/v1/organizations/org-1/workspaces/ws-1/automations page_size=5
    """
    from .sources.abstra.client import MUTATING_ACTIONS, AbstraClient

    settings = _settings(ctx, config_path)
    if connection is None and (method or query or header):
        raise ConfigError("--method, --query and --header go with --custom CONNECTION URL")
    if connection is not None:
        _call_custom(settings, connection, action, params, method, query, header, yes)
        return
    if source is not None:
        _call_source(settings, source, action, params)
        return
    if action in MUTATING_ACTIONS and not yes:
        raise ConfigError(f"{action} changes the organization: add --yes to confirm")
    parameters = _parse_params(params)

    async def go() -> Any:
        async with AbstraClient.from_settings(settings) as client:
            return await client.execute(action, parameters)

    _print_data(_interruptible(go))


def _call_source(settings: Settings, name: str, path: str, params: tuple[str, ...]) -> None:
    """`call --source`: one GET on a REST source's API (its client can send nothing else)."""
    from .sources.registry import build_sources

    source = next((s for s in build_sources(settings) if s.name == name), None)
    if source is None:
        raise ConfigError(f"no [{name}] section in the config: add one to call its API")
    if not path.startswith("/"):
        raise ConfigError(f"{path!r} is not a path: give one starting with /, e.g. /logs")
    settings.require_tokens()
    query = _parse_params(params)

    async def go() -> Any:
        try:
            return await source.client.get(path, query)  # type: ignore[attr-defined]
        finally:
            await source.aclose()

    _print_data(_interruptible(go))


def _call_custom(
    settings: Settings, connection: str, url: str, params: tuple[str, ...], method: str | None,
    query: tuple[str, ...], header: tuple[str, ...], yes: bool,
) -> None:
    """`call --custom`: the URL checked by the SSRF rule before anything is sent."""
    from .sources.abstra.client import AbstraClient
    from .sources.custom.fetch import call_custom
    from .sources.custom.request import (
        CustomCall,
        CustomRequestError,
        call_parameters,
        resolve,
    )
    from .sources.custom.ssrf import SsrfError

    headers = {k: str(v) for k, v in _parse_params(header, parse_json=False).items()}
    request = CustomCall(url, method, _parse_params(query), headers)
    try:
        parameters = call_parameters(request, _parse_params(params))
        verb = resolve(parameters).method
    except (SsrfError, CustomRequestError) as exc:
        raise ConfigError(f"call --custom: {exc}") from None
    if verb in ("PUT", "PATCH", "DELETE") and not yes:
        raise ConfigError(f"call --custom: a {verb} may change the service: add --yes to confirm")

    async def go() -> Any:
        async with AbstraClient.from_settings(settings) as client:
            return await call_custom(client, connection, parameters, "call --custom")

    _print_data(_interruptible(go))


def _print_data(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _parse_params(params: tuple[str, ...], *, parse_json: bool = True) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"parameter {item!r} is not key=value")
        if not parse_json:
            parsed[key] = value
            continue
        try:
            parsed[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed[key] = value
    return parsed


@main.command()
@_config_option
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help="Days to cover, today included.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=Path("report.html"),
              show_default=True, help="The HTML file to write.")
@click.pass_context
@_handles_errors
def report(ctx: click.Context, config_path: Path | None, days: int, out: Path) -> None:
    """Write one self-contained HTML page of charts over the warehouse (opens offline).

    \b
    Logins and failing emails, members added and removed, activity per project,
    executions and failure rates, consumption, and harvest health; every number comes
    from read-only SQL over the warehouse, and each chart carries its numbers.
      harvester report --config harvester.toml --days 30 --out report.html
      harvester report --config demo.toml        # after `harvester demo`
    """
    from .report import (
        write_report,  # imports matplotlib: only this command pays for it
    )

    settings = _settings(ctx, config_path)
    summary = write_report(settings.warehouse.duckdb, out, days=days)
    click.echo(f"wrote {out}: {summary.charts} charts, {summary.panels} panels, "
               f"{summary.window.start:%Y-%m-%d} to {summary.window.end:%Y-%m-%d %H:%M} UTC")
    for title in summary.empty:
        click.echo(f"  no data: {title}")


@main.command()
@click.option("--warehouse", "path", type=click.Path(path_type=Path, dir_okay=False), default=Path("demo.duckdb"),
              help="Where to write the demo warehouse.")
@click.option("--days", default=90, show_default=True, help="Days of synthetic history.")
@click.option("--projects", default=40, show_default=True)
@click.pass_context
@_handles_errors
def demo(ctx: click.Context, path: Path, days: int, projects: int) -> None:
    """No account needed: simulate an organization, harvest it, show what SQL gives.

    \b
      harvester demo
      harvester sql --config demo.toml "select * from members"   # demo.toml is written beside the warehouse
    """
    from .demo import run_demo

    configure_logging(json=ctx.obj["json"], level="warning" if ctx.obj["level"] == "info" else ctx.obj["level"])
    run_demo(path, days=days, projects=projects)


@main.command()
@click.option("--source", type=click.Choice(["abstra", "automations", "flows"]), default="abstra", show_default=True,
              help="Which API to simulate.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--projects", default=12, show_default=True, help="abstra: projects in the organization.")
@click.option("--members", default=8, show_default=True, help="abstra: members of the organization.")
@click.option("--days", default=90, show_default=True, help="Days of history ending now.")
@click.option("--scale", default=1.0, show_default=True, help="abstra: multiply every stream's events per day.")
@click.option("--latency-ms", default=0, show_default=True)
@click.option("--fault-rate", default=0.0, show_default=True, help="Share of requests that fail transiently.")
@click.option("--token", default="sim-token", show_default=True, help="The token the simulator accepts.")
def simulate(source: str, host: str, port: int, seed: int, projects: int, members: int, days: int, scale: float,
             latency_ms: int, fault_rate: float, token: str) -> None:
    """Serve a simulated API (for trying the harvester without an account).

    \b
      harvester simulate --port 8765 &
      CLOUD_API_ENDPOINT=http://127.0.0.1:8765 ABSTRA_API_TOKEN=sim-token harvester run --config harvester.toml
      harvester simulate --source automations --port 8766 &   # [automations] endpoint, AUTOMATIONS_API_TOKEN=sim-token
      harvester simulate --source flows --port 8767 &         # [flows] endpoint, FLOWS_API_TOKEN=sim-token
    """
    from .demo import serve_simulator

    click.echo(f"simulated {source} API on http://{host}:{port} (token {token!r}); Ctrl-C to stop", err=True)
    serve_simulator(
        source, host=host, port=port, seed=seed, projects=projects, members=members, days=days, scale=scale,
        latency_ms=latency_ms, fault_rate=fault_rate, token=token,
    )
