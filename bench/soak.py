"""Soak benchmark: a year-long backfill of every stream through transient faults and two SIGKILLs.

    .venv/bin/python bench/soak.py                          # calibrate, then the killed soak
    .venv/bin/python bench/soak.py --expected-seconds 60    # skip the calibration run
    .venv/bin/python bench/soak.py --consumption-days 7 --scale 3 --keep

One simulated organization (default: 20 projects, 365 days ending 2025-06-01, every log
stream at 6x the simulator's default daily volume, about 1.47M log entries, plus 20
executions per project per day) is served by `python bench/soak.py --serve-simulator`
in its own process: the simulator of `harvester.simulator` (same app as `python -m
harvester.simulator`) with `latency_ms = 5` and `fault_rate = 0.01` over every
transient fault kind (the `timeout` fault hangs `hang_seconds = 3`, past the
harvester's `timeout_seconds = 2`). The wrapper only adds a JSON dump of the
simulator's request and fault counters every 0.2 s and at exit, so faults served can
be reported per attempt.

1. Calibration (skipped with `--expected-seconds`): one uninterrupted backfill of the
   year into a fresh warehouse against a fresh simulator; its wall time is T.
2. Soak, against one simulator that stays up throughout: `python -m harvester
   --log-format json --log-level warning backfill --since <start> --until <end>
   --streams <all>` into a fresh warehouse, SIGKILLed once it has run 0.30 T; then
   the same command again (a resume), SIGKILLed once the two attempts together have
   run 0.60 T (`--kill-at`); then the same command again, to completion.
3. Per attempt: wall time, exit code, peak RSS, CPU seconds, `fetch.retry` events in
   its JSON log lines (by cause), requests and faults served by the simulator
   meanwhile; after each kill the warehouse is opened read-only to show what had
   landed. Peak RSS is the child's `VmHWM` read every 10 ms until it exits (the
   killed ones: read just before the SIGKILL). `ru_maxrss` from `os.wait4` is printed
   too, but on Linux it is at least the *parent's* RSS when the child was spawned
   (exec carries the vforked image's high-water mark into the child's maxrss), so
   it is only the harvester's peak when it exceeds this process's RSS at spawn
   (shown as "bench RSS at spawn"). Ground truth is therefore built only after
   the last harvester has run, keeping this process small while they run.
4. Checks the warehouse against ground truth generated in this process from the same
   SimConfig (`Org(config).log_entries(...)`, `.executions(...)`, `.consumption(...)`):
   zero missing and zero duplicate / unexpected ids in every log table and in
   `executions`, every (project, period) of `consumption` present once with the
   expected metric values, every partition done, no rejects, the last run `ok`, exit
   code 0. Exits 1 when any check fails.

Helpers (processes, harvester config, RSS sampling, code version) come from
`bench/harvest.py`. Temp files go under $TMPDIR (default /tmp); `--keep` keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harvest as hb

from harvester.simulator import LOG_STREAMS, Org, SimConfig
from harvester.simulator.config import DEFAULT_EVENTS_PER_DAY
from harvester.sources.abstra.streams import ALL_STREAMS

HISTORY_END = datetime(2025, 6, 1, tzinfo=UTC)
SOAK_FAULTS = (
    "http_429", "http_429_zero", "http_429_date", "http_500", "http_502", "http_503", "http_504",
    "reset_before_headers", "reset_after_headers", "timeout", "truncated_json", "html_200",
)
STATS_INTERVAL_S = 0.2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the simulator, in its own process, with its counters dumped to a file ------------


def serve_simulator(config_path: Path, host: str, port: int, stats_path: Path) -> None:
    """What `python -m harvester.simulator` does (`serve`), plus `Simulator.stats` written
    to `stats_path` every STATS_INTERVAL_S and once more at exit."""
    from aiohttp import web

    from harvester.simulator import Simulator, create_app

    sim = Simulator(SimConfig(**orjson.loads(config_path.read_bytes())))
    app = create_app(sim)
    task_key = web.AppKey("soak_stats_dumper", asyncio.Task)

    def dump() -> None:
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({**sim.stats, "_at": time.time()}))
        os.replace(tmp, stats_path)

    async def dumper() -> None:
        while True:
            dump()
            await asyncio.sleep(STATS_INTERVAL_S)

    async def on_startup(app: web.Application) -> None:
        app[task_key] = asyncio.get_running_loop().create_task(dumper())

    async def on_cleanup(app: web.Application) -> None:
        app[task_key].cancel()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    web.run_app(app, host=host, port=port, access_log=None, print=None,
                handler_cancellation=True, shutdown_timeout=2.0)
    dump()


@dataclass
class SimProcess:
    proc: subprocess.Popen[bytes]
    port: int
    stats_path: Path

    def stats(self, settle: float = STATS_INTERVAL_S * 2) -> dict[str, int]:
        """The latest dump (waits `settle` s first so requests just served are in it)."""
        time.sleep(settle)
        try:
            data = orjson.loads(self.stats_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        data.pop("_at", None)
        return data


def start_simulator(config: SimConfig, tmp: Path, label: str) -> SimProcess:
    cfg = tmp / f"sim-{label}.json"
    cfg.write_bytes(orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    stats = tmp / f"sim-{label}.stats.json"
    port = hb._free_port()
    log = (tmp / f"simulator-{label}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve-simulator", "--sim-config", str(cfg),
         "--port", str(port), "--stats", str(stats)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    hb._children.append(proc)
    hb._wait_for_port(port, proc)
    return SimProcess(proc, port, stats)


def stop_simulator(sim: SimProcess) -> dict[str, int]:
    """Stop it (SIGTERM: aiohttp shuts down, the wrapper writes its final counters)."""
    hb._stop(sim.proc)
    if sim.proc in hb._children:
        hb._children.remove(sim.proc)
    return sim.stats(settle=0)


# --- the organization and its ground truth --------------------------------------------


def soak_config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        seed=11,
        folders=3,
        projects=args.projects,
        members=25,
        start=HISTORY_END - timedelta(days=args.days),
        end=HISTORY_END,
        events_per_day={s: v * args.scale for s, v in DEFAULT_EVENTS_PER_DAY.items()},
        executions_per_project_per_day=args.executions_per_day,
        token=hb.TOKEN,
        latency_ms=args.latency_ms,
        max_limit=1000,
        fault_rate=args.fault_rate,
        fault_kinds=list(SOAK_FAULTS),
        hang_seconds=args.hang_seconds,
    )


def consumption_periods(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Periods of `days` days on the grid counted from 1970-01-01 (UTC midnights) that
    meet [start, end), the last clipped to `end` (the harvester's documented rule)."""
    step = timedelta(days=days)
    cursor = datetime(start.year, start.month, start.day, tzinfo=UTC)
    cursor -= (cursor - _EPOCH) % step
    out = []
    while cursor < end:
        out.append((cursor, min(cursor + step, end)))
        cursor += step
    return out


def _numbers(data: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a reply by dotted path (`cpu.seconds`)."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_numbers(value, f"{prefix}.{key}" if prefix else key))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out[prefix] = float(data)
    return out


@dataclass
class Truth:
    log_ids: dict[str, set[str]]
    execution_ids: set[str]
    consumption: dict[tuple[str, datetime], dict[str, float]]  # (project, period start) -> metrics

    @property
    def log_rows(self) -> int:
        return sum(len(v) for v in self.log_ids.values())


def ground_truth(config: SimConfig, since: datetime, until: datetime, consumption_days: int) -> Truth:
    org = Org(config.model_copy(update={"cache_entries": 1, "fault_rate": 0.0}))
    log_ids = {s: {e["id"] for e in org.log_entries(s, since, until)} for s in LOG_STREAMS}
    executions = [e["id"] for e in org.executions(since, until)]
    if len(set(executions)) != len(executions):
        raise SystemExit("ground truth holds duplicate execution ids: the check below would be wrong")
    consumption = {
        (p.id, s): _numbers({k: v for k, v in org.consumption(p.id, s, e).items() if k not in ("from", "to")})
        for p in org.projects
        for s, e in consumption_periods(since, until, consumption_days)
    }
    return Truth(log_ids, set(executions), consumption)


# --- one harvester attempt ------------------------------------------------------------


@dataclass
class Attempt:
    label: str
    seconds: float
    exit_code: int
    killed: bool
    peak_rss_mb: float  # VmHWM, polled every 10 ms
    ru_maxrss_mb: float  # from os.wait4: max(this, bench RSS at spawn)
    bench_rss_mb: float  # this process's RSS when it spawned the attempt
    cpu_seconds: float
    retries: int
    retry_causes: Counter[str]
    events: Counter[str]  # every warning/error event, by name
    sim: dict[str, int] = field(default_factory=dict)  # simulator counters during the attempt
    landed: dict[str, int] | None = None  # rows in the warehouse after it (read-only look)
    partitions: tuple[int, int] | None = None  # (done, registered)
    stderr_tail: str = ""


def _cause(error: str, action: str) -> str:
    """A retry's error message without its action name: `HTTP 429`, `no reply within 2 s` ..."""
    text = error.removeprefix(f"{action}: ")
    return text if len(text) < 60 else text[:57] + "..."


def parse_log(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    retries, causes, events = 0, Counter[str](), Counter[str]()
    for line in path.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line cut by SIGKILL, or a non-JSON line
        if not isinstance(entry, dict):
            continue
        event = str(entry.get("event"))
        events[event] += 1
        if event == "fetch.retry":
            retries += 1
            causes[_cause(str(entry.get("error", "")), str(entry.get("action", "")))] += 1
    return retries, causes, events


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run_attempt(
    tmp: Path, label: str, sim: SimProcess, toml: Path, since: str, until: str, kill_after: float | None
) -> Attempt:
    """Run the backfill once; SIGKILL it after `kill_after` seconds if it is still running.
    The child is only reaped by our `wait4`, so the pid we signal is always still ours."""
    env = {**os.environ, "ABSTRA_API_TOKEN": hb.TOKEN, "CLOUD_API_ENDPOINT": f"http://{hb.HOST}:{sim.port}",
           "NO_COLOR": "1"}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    cmd = [sys.executable, "-m", "harvester", "--log-format", "json", "--log-level", "warning",
           "backfill", "--config", str(toml), "--since", since, "--until", until,
           "--streams", ",".join(ALL_STREAMS)]
    (tmp / f"harvester-{label}.cmd").write_text(
        f"ABSTRA_API_TOKEN={hb.TOKEN} CLOUD_API_ENDPOINT=http://{hb.HOST}:{sim.port} {' '.join(cmd)}\n")
    before = sim.stats(settle=0)
    err_path = tmp / f"harvester-{label}.err"
    killed = False
    hwm = 0.0
    bench_rss = hb._proc_status(os.getpid(), "VmRSS")
    with (tmp / f"harvester-{label}.out").open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        hb._children.append(proc)
        sampler = hb.RssSampler(proc.pid)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                now_hwm = hb._proc_status(proc.pid, "VmHWM")  # NaN once it has exited (a zombie)
                hwm = max(hwm, now_hwm)
                if kill_after is not None and not killed and time.perf_counter() - started >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
                time.sleep(0.01)
        except BaseException:
            hb._stop(proc)
            hb._children.remove(proc)
            raise
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    hb._children.remove(proc)
    with (tmp / f"harvester-{label}.rss.csv").open("w") as fh:
        fh.write("seconds,rss_mb\n" + "".join(f"{t:.2f},{r:.1f}\n" for t, r in sampler.samples))
    retries, causes, events = parse_log(err_path)
    lines = [line for line in err_path.read_text(errors="replace").splitlines() if '"fetch.retry"' not in line]
    tail = "\n".join(lines[-10:])  # retries are summarised separately
    return Attempt(label, seconds, proc.returncode, killed, hwm, usage.ru_maxrss / 1024, bench_rss,
                   usage.ru_utime + usage.ru_stime, retries, causes, events,
                   _delta(sim.stats(), before), stderr_tail=tail)


# --- the warehouse --------------------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def peek(path: Path) -> tuple[dict[str, int] | None, tuple[int, int] | None]:
    """Rows per table and (done, registered) partitions, read-only (after a kill);
    Nones when the attempt was killed before it created the warehouse."""
    if not path.exists():
        return None, None
    with duckdb.connect(str(path), read_only=True) as con:
        have = _tables(con)
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
                for t in ALL_STREAMS_TABLES if t in have}
        if "_partitions" not in have:
            return rows, None
        done, total = con.execute("SELECT count(*) FILTER (WHERE done), count(*) FROM _partitions").fetchone()  # type: ignore[misc]
    return rows, (done, total)


ALL_STREAMS_TABLES: tuple[str, ...] = tuple(dict.fromkeys(t for s in ALL_STREAMS.values() for t in s.tables))


def verify(path: Path, truth: Truth, consumption_days: int) -> tuple[dict[str, int], list[str], list[str]]:
    """(rows per table, check lines, problems)."""
    problems: list[str] = []
    lines: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        have = _tables(con)
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
                for t in ALL_STREAMS_TABLES if t in have}
        for table, expected in [*truth.log_ids.items(), ("executions", truth.execution_ids)]:
            if table not in have:
                problems.append(f"{table}: table missing")
                continue
            ids = [r[0] for r in con.execute(f'SELECT id FROM "{table}"').fetchall()]
            landed = set(ids)
            missing, extra, dups = len(expected - landed), len(landed - expected), len(ids) - len(landed)
            lines.append(f"{table:<26} {len(ids):>10,} rows  {len(expected):>10,} expected  "
                         f"missing {missing}  duplicate {dups}  unexpected {extra}")
            if missing or extra or dups:
                problems.append(f"{table}: {missing} missing, {dups} duplicate, {extra} unexpected ids")
        got: dict[tuple[str, datetime], dict[str, float]] = {}
        dup_metrics = 0
        for pid, start, metric, value in con.execute(
                "SELECT project_id, period_start, metric, value FROM consumption").fetchall():
            slot = got.setdefault((pid, start.astimezone(UTC)), {})
            dup_metrics += metric in slot
            slot[metric] = value
        missing_p = [k for k in truth.consumption if k not in got]
        extra_p = [k for k in got if k not in truth.consumption]
        wrong = sum(
            1 for k, metrics in truth.consumption.items() if k in got
            for m, v in metrics.items() if not math.isclose(got[k].get(m, math.nan), v, rel_tol=1e-9, abs_tol=1e-9)
        ) + sum(len(set(got[k]) - set(m)) for k, m in truth.consumption.items() if k in got)
        lines.append(f"{'consumption':<26} {rows.get('consumption', 0):>10,} rows  "
                     f"{len(truth.consumption):>10,} (project, {consumption_days}-day period) expected  "
                     f"missing {len(missing_p)}  duplicate {dup_metrics}  unexpected {len(extra_p)}  wrong values {wrong}")
        if missing_p or extra_p or dup_metrics or wrong:
            problems.append(f"consumption: {len(missing_p)} missing periods, {len(extra_p)} unexpected, "
                            f"{dup_metrics} duplicate metrics, {wrong} wrong/unexpected values")
        done, total = con.execute("SELECT count(*) FILTER (WHERE done), count(*) FROM _partitions").fetchone()  # type: ignore[misc]
        lines.append(f"partitions done {done:,} / {total:,}")
        if done != total:
            problems.append(f"{total - done} partitions not done")
        rejects = con.execute("SELECT count(*) FROM _rejects").fetchone()[0] if "_rejects" in have else 0  # type: ignore[index]
        lines.append(f"rejects {rejects}")
        if rejects:
            problems.append(f"{rejects} rejects (the simulator serves no malformed entries here)")
        runs = con.execute("SELECT status, count(*) FROM _runs GROUP BY 1 ORDER BY 1").fetchall()
        last = con.execute("SELECT status FROM _runs ORDER BY started_at DESC NULLS LAST LIMIT 1").fetchone()
        lines.append("runs recorded: " + ", ".join(f"{n} {s}" for s, n in runs))
        if last is None or last[0] != "ok":
            problems.append(f"last run status {last[0] if last else None!r}, expected 'ok'")
    return rows, lines, problems


# --- reporting ------------------------------------------------------------------------


def _faults(stats: dict[str, int]) -> str:
    kinds = sorted(((k.removeprefix("faults."), v) for k, v in stats.items() if k.startswith("faults.")),
                   key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in kinds) or "none"


def print_attempt(a: Attempt) -> None:
    how = f"SIGKILLed after {a.seconds:.1f}s" if a.killed else f"exit {a.exit_code} after {a.seconds:.1f}s"
    floor = " (= bench RSS at spawn: not the harvester's)" if a.ru_maxrss_mb <= a.bench_rss_mb + 1 else ""
    print(f"  {a.label:<12} {how}; peak RSS {a.peak_rss_mb:.1f} MB (VmHWM; ru_maxrss {a.ru_maxrss_mb:.1f} MB{floor}, "
          f"bench RSS at spawn {a.bench_rss_mb:.0f} MB); CPU {a.cpu_seconds:.1f}s; "
          f"{a.sim.get('requests', 0):,} requests served, {a.sim.get('faults', 0)} faults served, "
          f"{a.retries} fetch.retry logged", flush=True)
    if a.sim.get("faults"):
        print(f"               faults: {_faults(a.sim)}")
    if a.retry_causes:
        print("               retries by cause: " + ", ".join(f"{c} {n}" for c, n in a.retry_causes.most_common()))
    others = {e: n for e, n in a.events.items() if e != "fetch.retry"}
    if others:
        print("               other warning/error events: " + ", ".join(f"{e} {n}" for e, n in sorted(others.items())))
    if a.killed and a.landed is None:
        print("               landed so far: nothing (killed before it created the warehouse)")
    elif a.landed is not None:
        logs = sum(a.landed.get(t, 0) for t in LOG_STREAMS)
        parts = f"{a.partitions[0]:,} / {a.partitions[1]:,}" if a.partitions else "none registered"
        print(f"               landed so far: {logs:,} log rows, {a.landed.get('executions', 0):,} executions, "
              f"{a.landed.get('consumption', 0):,} consumption rows; partitions done {parts}")


# --- main -----------------------------------------------------------------------------


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365, help="days of history, all backfilled")
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--scale", type=float, default=6.0,
                        help="multiplier on the simulator's default events per day of each log stream")
    parser.add_argument("--executions-per-day", type=float, default=20.0, help="per project")
    parser.add_argument("--consumption-days", type=int, default=1,
                        help="[harvest] consumption_period_days (1 = one call per project per day)")
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--fault-rate", type=float, default=0.01)
    parser.add_argument("--hang-seconds", type=float, default=3.0, help="how long a `timeout` fault hangs")
    parser.add_argument("--timeout-seconds", type=float, default=2.0, help="[abstra] timeout_seconds")
    parser.add_argument("--kill-at", default="0.3,0.6",
                        help="SIGKILL when the harvester has run these fractions of T in total")
    parser.add_argument("--expected-seconds", type=float,
                        help="T; without it an uninterrupted calibration run measures it")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a harvester setting, VALUE in TOML; repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sim-config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_simulator:
        serve_simulator(args.sim_config, hb.HOST, args.port, args.stats)
        return 0
    kill_at = sorted(float(f) for f in args.kill_at.split(",") if f.strip())
    if any(not 0 < f < 1 for f in kill_at):
        parser.error("--kill-at fractions must lie in (0, 1)")
    overrides = hb._parse_settings(parser, args.settings)
    overrides.setdefault("abstra", {}).setdefault("timeout_seconds", args.timeout_seconds)
    harvest = overrides.setdefault("harvest", {})
    harvest.setdefault("streams", list(ALL_STREAMS))
    harvest.setdefault("consumption_period_days", args.consumption_days)

    signal.signal(signal.SIGTERM, hb._on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    problems: list[str] = []
    warnings: list[str] = []  # the soak did not do what it meant to (not a harvester failure)
    try:
        config = soak_config(args)
        since, until = config.history_start, config.end
        print(f"simulated org: {args.projects} projects, {config.members} members, "
              f"{args.days} days ({_day(since)}..{_day(until)}); log events/day x{args.scale:g} of the simulator's "
              f"defaults ({', '.join(f'{s} {v:g}' for s, v in config.events_per_day.items())}); "
              f"{args.executions_per_day:g} executions/project/day; consumption period {args.consumption_days} day(s)",
              flush=True)
        print(f"simulator: latency {args.latency_ms:g} ms, fault_rate {args.fault_rate:g} over "
              f"{', '.join(SOAK_FAULTS)}; timeout hangs {args.hang_seconds:g}s", flush=True)
        print(f"harvester: {' '.join(f'{s}.{k}={v!r}' for s, kv in overrides.items() for k, v in kv.items() if k != 'streams')}, "
              f"page_size/concurrency as bench/harvest.py, all {len(ALL_STREAMS)} streams:\n  "
              f"python -m harvester --log-format json --log-level warning backfill --config harvester.toml "
              f"--since {_day(since)} --until {_day(until)} --streams {','.join(ALL_STREAMS)}", flush=True)
        print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, load {hb._load()}, temp dir {tmp}", flush=True)
        print(f"code: {hb._code_version()}", flush=True)

        expected = args.expected_seconds
        cal: Attempt | None = None
        if expected is None:
            print("\ncalibration (uninterrupted, fresh warehouse and simulator)", flush=True)
            sim = start_simulator(config, tmp, "calibration")
            toml = tmp / "harvester-calibration.toml"
            toml.write_text(hb.harvester_config(tmp / "warehouse-calibration.duckdb", overrides))
            try:
                cal = run_attempt(tmp, "calibration", sim, toml, _day(since), _day(until), None)
            finally:
                stop_simulator(sim)
            print_attempt(cal)
            if cal.exit_code != 0:
                print(f"  PROBLEM: the calibration run exited {cal.exit_code}:\n{cal.stderr_tail}", file=sys.stderr)
                print("\nFAILED", flush=True)
                return 1
            expected = cal.seconds
        kill_marks = [f * expected for f in kill_at]
        print(f"\nsoak: T = {expected:.1f}s; SIGKILL at {', '.join(f'{m:.1f}s' for m in kill_marks)} of harvester "
              f"time in total, then run to completion", flush=True)

        sim = start_simulator(config, tmp, "soak")
        warehouse = tmp / "warehouse-soak.duckdb"
        toml = tmp / "harvester-soak.toml"
        toml.write_text(hb.harvester_config(warehouse, overrides))
        attempts: list[Attempt] = []
        soak_started = time.perf_counter()
        try:
            spent = 0.0
            for i, mark in enumerate([*kill_marks, None], 1):
                budget = None if mark is None else max(0.5, mark - spent)
                attempt = run_attempt(tmp, f"soak-{i}", sim, toml, _day(since), _day(until), budget)
                spent += attempt.seconds
                if attempt.exit_code != 0 and not attempt.killed:
                    attempts.append(attempt)
                    print_attempt(attempt)
                    problems.append(f"{attempt.label} exited {attempt.exit_code}:\n{attempt.stderr_tail}")
                    break
                if attempt.killed or mark is not None:
                    attempt.landed, attempt.partitions = peek(warehouse)
                attempts.append(attempt)
                print_attempt(attempt)
                if mark is not None and not attempt.killed:
                    warnings.append(f"{attempt.label} finished before its kill at {mark:.1f}s: that kill was not "
                                    f"exercised (give a larger --expected-seconds)")
                    break
        finally:
            sim_total = stop_simulator(sim)
        overall = time.perf_counter() - soak_started

        # only now, so this process is small while the harvesters run (see ru_maxrss above)
        started = time.perf_counter()
        truth = ground_truth(config, since, until, args.consumption_days)
        print(f"\nground truth ({time.perf_counter() - started:.1f}s): {truth.log_rows:,} log entries "
              f"({', '.join(f'{s} {len(v):,}' for s, v in truth.log_ids.items())}), "
              f"{len(truth.execution_ids):,} executions, {len(truth.consumption):,} (project, period) consumption "
              f"replies", flush=True)
        if cal is not None:
            _, _, cal_problems = verify(tmp / "warehouse-calibration.duckdb", truth, args.consumption_days)
            problems += [f"calibration: {p}" for p in cal_problems]
            print(f"calibration warehouse: {'OK' if not cal_problems else 'FAILED (see below)'}")
        rows, lines, check_problems = verify(warehouse, truth, args.consumption_days)
        problems += check_problems
        retries = sum(a.retries for a in attempts)
        print("\nrows landed per table: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
        print(f"log rows {sum(rows.get(t, 0) for t in LOG_STREAMS):,}; executions {rows.get('executions', 0):,}; "
              f"consumption {rows.get('consumption', 0):,}")
        print(f"attempts: {len(attempts)}; wall time overall {overall:.1f}s (harvester {sum(a.seconds for a in attempts):.1f}s: "
              f"{' + '.join(f'{a.seconds:.1f}' for a in attempts)}); peak RSS (VmHWM) per attempt "
              f"{' / '.join(f'{a.peak_rss_mb:.0f}' for a in attempts)} MB")
        print(f"simulator over the soak: {sim_total.get('requests', 0):,} requests, {sim_total.get('faults', 0)} faults "
              f"({_faults(sim_total)}); harvester retries logged {retries}")
        if expected is not None and args.expected_seconds is None:
            print(f"soak harvester time vs the uninterrupted calibration ({expected:.1f}s): "
                  f"{sum(a.seconds for a in attempts) - expected:+.1f}s (the kills' cost, plus noise from the load)")
        print("\nchecks (soak warehouse vs ground truth)")
        for line in lines:
            print("  " + line)
        for warning in warnings:
            print(f"  WARNING: {warning}", file=sys.stderr)
        for problem in problems:
            print(f"  PROBLEM: {problem}", file=sys.stderr)
        print("\nOK" if not problems else "\nFAILED", flush=True)
        return 0 if not problems else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        hb._stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
