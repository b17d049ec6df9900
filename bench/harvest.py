"""End-to-end harvest benchmark: simulator and harvester in separate processes.

    .venv/bin/python bench/harvest.py                       # 250k and 1M rows, 20 ms latency
    .venv/bin/python bench/harvest.py --sizes 1000000 --repeat 3 --keep

For each size this

1. starts `python -m harvester.simulator --port <free port> --config sim.json` in its
   own process on 127.0.0.1 (20 projects, 90 days of history sized so that the six
   log streams hold at least the largest requested size, `latency_ms` per request;
   executions are switched off: only log streams are harvested),
2. runs `python -m harvester --log-format json --log-level warning backfill --config
   harvester.toml --since <history start> --until <day>` against it, into a fresh
   DuckDB warehouse, with `page_size = 1000` and `concurrency = 8`; `--until` is the
   first UTC midnight by which the simulated organization holds at least `size` log
   entries, so every size harvests the same organization,
3. measures the harvester's wall time (process start to exit, interpreter start-up
   included), its peak RSS (`ru_maxrss` from `os.wait4`, exact) and CPU seconds, and the
   simulator's CPU seconds and peak RSS (`VmHWM`), and
4. checks the warehouse read-only: rows in the six log tables, no duplicate ids, and
   the row count equal to the simulator's ground truth for the range.

The simulator is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson

from harvester.simulator import LOG_STREAMS, Org, SimConfig

HOST = "127.0.0.1"
TOKEN = "bench-sim-token"
HISTORY_END = datetime(2025, 6, 1, tzinfo=UTC)
HEADROOM = 1.03  # history holds a little more than the largest size
START_TIMEOUT_S = 60.0


@dataclass
class Result:
    size: int
    rows: int
    expected: int
    since: str
    until: str
    seconds: float
    run_seconds: float | None  # from the harvester's own _runs record (no interpreter start-up)
    peak_rss_mb: float
    cpu_seconds: float
    sim_cpu_seconds: float
    sim_peak_rss_mb: float
    requests: int | None
    load: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


# --- processes -------------------------------------------------------------------

_children: list[subprocess.Popen[bytes]] = []


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _stop_all() -> None:
    while _children:
        _stop(_children.pop())


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _proc_status(pid: int, field: str) -> float:
    """A `kB` field of /proc/<pid>/status, in MB (NaN once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the simulator did not listen on {HOST}:{port} within {START_TIMEOUT_S:.0f}s")


def start_simulator(config: SimConfig, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    cfg = tmp / "sim.json"
    cfg.write_bytes(orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    port = _free_port()
    log = (tmp / "simulator.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester.simulator", "--host", HOST, "--port", str(port), "--config", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # our Ctrl-C handling stops it, in order
    )
    _children.append(proc)
    _wait_for_port(port, proc)
    return proc, port


def run_harvester(
    tmp: Path, label: str, port: int, since: str, until: str, profile: Path | None
) -> tuple[float, float, float, int, str]:
    """(wall seconds, peak RSS MB, CPU seconds, exit code, stderr tail)."""
    warehouse = tmp / f"warehouse-{label}.duckdb"
    for stale in (warehouse, warehouse.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    toml = tmp / f"harvester-{label}.toml"
    toml.write_text(
        "[abstra]\n"
        'connection = "abstra-manager"\n'
        "timeout_seconds = 60\n"
        "[harvest]\n"
        f"streams = {orjson.dumps(list(LOG_STREAMS)).decode()}\n"
        "page_size = 1000\n"
        "concurrency = 8\n"
        "[warehouse]\n"
        f'duckdb = "{warehouse.name}"\n'
    )
    env = {
        **os.environ,
        "ABSTRA_API_TOKEN": TOKEN,
        "CLOUD_API_ENDPOINT": f"http://{HOST}:{port}",
        "NO_COLOR": "1",
    }
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    python = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    cmd = [
        *python, "-m", "harvester", "--log-format", "json", "--log-level", "warning",
        "backfill", "--config", str(toml), "--since", since, "--until", until,
        "--streams", ",".join(LOG_STREAMS),
    ]
    out_path, err_path = tmp / f"harvester-{label}.out", tmp / f"harvester-{label}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
        _children.append(proc)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    _children.remove(proc)
    tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode, tail


# --- the organization ------------------------------------------------------------


def sim_config(max_size: int, days: int, projects: int, latency_ms: float) -> SimConfig:
    per_stream_day = max_size * HEADROOM / (len(LOG_STREAMS) * days)
    return SimConfig(
        seed=7,
        folders=2,
        projects=projects,
        members=25,
        start=HISTORY_END - timedelta(days=days),
        end=HISTORY_END,
        events_per_day={s: per_stream_day for s in LOG_STREAMS},
        executions_per_project_per_day=0,
        token=TOKEN,
        latency_ms=latency_ms,
        max_limit=1000,
    )


def daily_counts(config: SimConfig) -> list[tuple[datetime, int]]:
    """Log entries per UTC day over the history (ground truth, generated in this process)."""
    org = Org(config.model_copy(update={"cache_entries": 1}))
    out = []
    day = config.history_start
    while day < config.end:
        out.append((day, sum(len(org.log_block(s, day.date())) for s in LOG_STREAMS)))
        day += timedelta(days=1)
    return out


def window_for(size: int, days: list[tuple[datetime, int]]) -> tuple[datetime, datetime, int]:
    """[history start, first midnight by which >= size entries exist), and the entries in it."""
    total = 0
    for day, n in days:
        total += n
        if total >= size:
            return days[0][0], day + timedelta(days=1), total
    return days[0][0], days[-1][0] + timedelta(days=1), total


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


# --- the warehouse ---------------------------------------------------------------


def inspect_warehouse(path: Path) -> tuple[int, float | None, int | None, list[str]]:
    """(rows in the log tables, in-run seconds, requests, problems)."""
    problems: list[str] = []
    rows = 0
    with duckdb.connect(str(path), read_only=True) as con:
        for table in LOG_STREAMS:
            total, distinct = con.execute(f'SELECT count(*), count(DISTINCT id) FROM "{table}"').fetchone() or (0, 0)
            rows += total
            if total != distinct:
                problems.append(f"{table}: {total} rows but {distinct} distinct ids")
        run = con.execute(
            "SELECT status, epoch(ended_at) - epoch(started_at), stats FROM _runs "
            "ORDER BY started_at DESC NULLS LAST LIMIT 1"
        ).fetchone()
    if run is None:
        return rows, None, None, [*problems, "no run recorded"]
    status, run_seconds, stats = run
    if status != "ok":
        problems.append(f"run status {status!r}")
    stats = orjson.loads(stats) if isinstance(stats, str | bytes) else (stats or {})
    return rows, run_seconds, stats.get("requests"), problems


# --- main ------------------------------------------------------------------------


def bench_size(
    size: int, config: SimConfig, days: list[tuple[datetime, int]], tmp: Path, label: str, profile: bool
) -> Result:
    since, until, expected = window_for(size, days)
    sim, port = start_simulator(config, tmp)
    try:
        sim_cpu0 = _cpu_seconds(sim.pid)
        load = _load()
        prof = tmp / f"harvester-{label}.prof" if profile else None
        seconds, rss, cpu, code, tail = run_harvester(tmp, label, port, _day(since), _day(until), prof)
        sim_cpu = _cpu_seconds(sim.pid) - sim_cpu0
        sim_rss = _proc_status(sim.pid, "VmHWM")
    finally:
        _stop(sim)
        if sim in _children:
            _children.remove(sim)
    if code != 0:
        raise SystemExit(f"harvester exited with code {code} for size {size}:\n{tail}")
    rows, run_seconds, requests, problems = inspect_warehouse(tmp / f"warehouse-{label}.duckdb")
    if rows != expected:
        problems.append(f"{rows} rows landed but the simulator holds {expected} in the range")
    for problem in problems:
        print(f"  PROBLEM ({label}): {problem}", file=sys.stderr)
    return Result(size, rows, expected, _day(since), _day(until), seconds, run_seconds, rss, cpu,
                  sim_cpu, sim_rss, requests, load)


def print_line(r: Result) -> None:
    run = f", {r.run_seconds:.2f}s in-run" if r.run_seconds is not None else ""
    print(
        f"{r.rows:>9,} rows  {r.seconds:7.2f}s  {r.rate:>9,.0f} rows/s  peak RSS {r.peak_rss_mb:6.1f} MB"
        f"   (harvester CPU {r.cpu_seconds:.1f}s{run}; simulator CPU {r.sim_cpu_seconds:.1f}s, "
        f"peak RSS {r.sim_peak_rss_mb:.0f} MB; {r.requests} requests; load {r.load})",
        flush=True,
    )


def print_summary(results: list[Result]) -> None:
    header = (f"{'size':>9} {'rows':>9} {'range':>23} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>11} "
              f"{'CPU s':>6} {'sim CPU s':>9} {'sim RSS MB':>10} {'load (1/5/15m)':>15}")
    print("\nsummary")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.size:>9,} {r.rows:>9,} {r.since + '..' + r.until:>23} {r.seconds:>8.2f} {r.rate:>9,.0f} "
              f"{r.peak_rss_mb:>11.1f} {r.cpu_seconds:>6.1f} {r.sim_cpu_seconds:>9.1f} "
              f"{r.sim_peak_rss_mb:>10.0f} {r.load:>15}")
    print("\nreference: dlt ~15,000-20,000 rows/s, 400 -> 650 MB; target >= 100,000 rows/s, peak RSS < 200 MB and flat")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250000,1000000", help="comma-separated target row counts")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated server latency per request")
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--days", type=int, default=90, help="days of simulated history (sized for the largest size)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (each with a fresh warehouse)")
    parser.add_argument("--profile", action="store_true",
                        help="run the harvester under cProfile; .prof files go to the temp dir (implies --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (warehouses, configs, logs)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    if not sizes or min(sizes) <= 0:
        parser.error("--sizes needs positive integers")
    keep = args.keep or args.profile

    signal.signal(signal.SIGTERM, _on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="harvest-bench-"))
    results: list[Result] = []
    try:
        config = sim_config(sizes[-1], args.days, args.projects, args.latency_ms)
        started = time.perf_counter()
        days = daily_counts(config)
        print(
            f"simulated org: {args.projects} projects, {args.days} days "
            f"({_day(config.history_start)}..{_day(config.end)}), {sum(n for _, n in days):,} log entries; "
            f"latency {args.latency_ms:g} ms; ground truth in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, temp dir {tmp}", flush=True)
        for size in sizes:
            for i in range(args.repeat):
                label = f"{size}-{i}"
                result = bench_size(size, config, days, tmp, label, args.profile)
                results.append(result)
                print_line(result)
        print_summary(results)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        _stop_all()
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
