"""End-to-end harvest benchmark: simulator and harvester in separate processes.

    .venv/bin/python bench/harvest.py                       # 250k and 1M rows, 20 ms latency
    .venv/bin/python bench/harvest.py --sizes 1000000 --repeat 3
    .venv/bin/python bench/harvest.py --sizes 1000000 --set "warehouse.memory_limit='32MB'"
    .venv/bin/python bench/harvest.py --sizes 1000000 --profile py-spy   # then bench/pyspy_top.py FILE

The simulated organization is the same whatever sizes are asked for: 20 projects and
90 days of history (ending 2025-06-01) holding about `--org-rows` (1M) entries spread
evenly over the six log streams; executions are switched off (only log streams are
harvested). For each size (and each `--repeat`) this

1. starts `python -m harvester.simulator --host 127.0.0.1 --port <free port> --config
   sim.json` in its own process, with `latency_ms` per request (a fresh, cold simulator
   per run, so runs do not share its cache),
2. runs `python -m harvester --log-format json --log-level warning backfill --config
   harvester.toml --since <history start> --until <day> --streams <the six log streams>`
   against it (`ABSTRA_API_TOKEN`, `CLOUD_API_ENDPOINT` in its environment) into a fresh
   DuckDB warehouse, with `page_size = 1000` and `concurrency = 8` (`--set` overrides
   any setting); `--until` is the first UTC midnight by which the organization holds at
   least `size` entries,
3. measures the harvester's wall time (process start to exit, interpreter start-up
   included; the harvester's own `_runs` duration is shown too), its peak RSS
   (`ru_maxrss` from `os.wait4`: exact, cannot miss a spike), its CPU seconds (user +
   system, from the same rusage) and its RSS every 0.1 s (CSV in the temp dir), plus
   the simulator's CPU seconds and peak RSS (`VmHWM`), and
4. checks the warehouse read-only: rows in the six log tables, `count(*) = count(DISTINCT
   id)` per table, the run recorded as ok, and the row count equal to the simulator's
   ground truth for the range (computed in this process before timing starts).

Exits 1 when a check fails. The simulator and harvester are stopped on exit, Ctrl-C
and SIGTERM. Temp files go under $TMPDIR (default /tmp); `--keep` keeps them.
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
import threading
import time
import tomllib
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
    writer_seconds: float | None  # of which its writer spent committing
    peak_rss_mb: float
    cpu_seconds: float
    sim_cpu_seconds: float
    sim_peak_rss_mb: float
    requests: int | None
    load: str
    rss_quarters: tuple[float, ...]
    ok: bool

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")

    @property
    def cpu_us_per_row(self) -> float:
        """Harvester CPU per row: the figure least disturbed by other load on the machine."""
        return 1e6 * self.cpu_seconds / self.rows if self.rows else float("nan")


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


def _code_version() -> str:
    """HEAD and the harvester files changed since (the code under test moves while people work)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "harvester", "sinks", "state"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or '?'}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else " (clean)")


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


class RssSampler:
    """Polls a process's VmRSS every `interval` seconds (for the shape of memory over a run;
    the peak figure comes from `ru_maxrss`, which cannot miss a short spike)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._started = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _proc_status(self.pid, "VmRSS")
            if rss == rss:  # not NaN: the process still runs
                self.samples.append((time.perf_counter() - self._started, rss))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, fraction: float) -> float:
        """RSS (MB) at `fraction` of the run's duration (NaN without samples)."""
        if not self.samples:
            return float("nan")
        end = self.samples[-1][0]
        return next(rss for t, rss in self.samples if t >= fraction * end)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def harvester_config(warehouse: Path, overrides: dict[str, dict[str, object]]) -> str:
    sections: dict[str, dict[str, object]] = {
        "abstra": {"connection": "abstra-manager", "timeout_seconds": 60},
        "harvest": {"streams": list(LOG_STREAMS), "page_size": 1000, "concurrency": 8},
        "warehouse": {"duckdb": warehouse.name},
    }
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
        for name, values in sections.items()
    )


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    exit_code: int
    stderr_tail: str
    rss: RssSampler


def run_harvester(
    tmp: Path,
    label: str,
    port: int,
    since: str,
    until: str,
    *,
    overrides: dict[str, dict[str, object]],
    wrap: list[str],
) -> Run:
    warehouse = tmp / f"warehouse-{label}.duckdb"
    for stale in (warehouse, warehouse.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    toml = tmp / f"harvester-{label}.toml"
    toml.write_text(harvester_config(warehouse, overrides))
    env = {
        **os.environ,
        "ABSTRA_API_TOKEN": TOKEN,
        "CLOUD_API_ENDPOINT": f"http://{HOST}:{port}",
        "NO_COLOR": "1",
    }
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    cmd = [
        *[w.replace("{label}", label).replace("{tmp}", str(tmp)) for w in wrap],
        "-m", "harvester", "--log-format", "json", "--log-level", "warning",
        "backfill", "--config", str(toml), "--since", since, "--until", until,
        "--streams", ",".join(LOG_STREAMS),
    ]
    (tmp / f"harvester-{label}.cmd").write_text(
        f"ABSTRA_API_TOKEN={TOKEN} CLOUD_API_ENDPOINT=http://{HOST}:{port} {' '.join(cmd)}\n"
    )
    out_path, err_path = tmp / f"harvester-{label}.out", tmp / f"harvester-{label}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
        _children.append(proc)
        sampler = RssSampler(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C / SIGTERM: stop the harvester before its simulator goes
            _stop(proc)
            _children.remove(proc)
            raise
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    _children.remove(proc)
    with (tmp / f"harvester-{label}.rss.csv").open("w") as fh:
        fh.write("seconds,rss_mb\n" + "".join(f"{t:.2f},{r:.1f}\n" for t, r in sampler.samples))
    tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode, tail, sampler)


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


@dataclass(frozen=True)
class Landing:
    """What the warehouse says of a run."""

    rows: int  # in the log tables
    run_seconds: float | None  # the run's own duration, from `_runs`
    writer_seconds: float | None  # time its writer spent committing (`_runs.stats`)
    requests: int | None
    problems: list[str]


def inspect_warehouse(path: Path) -> Landing:
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
        return Landing(rows, None, None, None, [*problems, "no run recorded"])
    status, run_seconds, stats = run
    if status != "ok":
        problems.append(f"run status {status!r}")
    stats = orjson.loads(stats) if isinstance(stats, str | bytes) else (stats or {})
    return Landing(rows, run_seconds, stats.get("writer_seconds"), stats.get("requests"), problems)


# --- main ------------------------------------------------------------------------


def bench_size(
    size: int,
    config: SimConfig,
    days: list[tuple[datetime, int]],
    tmp: Path,
    label: str,
    *,
    overrides: dict[str, dict[str, object]],
    wrap: list[str],
) -> Result:
    since, until, expected = window_for(size, days)
    sim, port = start_simulator(config, tmp)
    try:
        sim_cpu0 = _cpu_seconds(sim.pid)
        load = _load()
        run = run_harvester(tmp, label, port, _day(since), _day(until), overrides=overrides, wrap=wrap)
        sim_cpu = _cpu_seconds(sim.pid) - sim_cpu0
        sim_rss = _proc_status(sim.pid, "VmHWM")
    finally:
        _stop(sim)
        if sim in _children:
            _children.remove(sim)
    if run.exit_code != 0:
        raise SystemExit(f"harvester exited with code {run.exit_code} for size {size}:\n{run.stderr_tail}")
    landing = inspect_warehouse(tmp / f"warehouse-{label}.duckdb")
    rows, run_seconds, requests, problems = landing.rows, landing.run_seconds, landing.requests, landing.problems
    if rows != expected:
        problems.append(f"{rows} rows landed but the simulator holds {expected} in the range")
    for problem in problems:
        print(f"  PROBLEM ({label}): {problem}", file=sys.stderr)
    return Result(size, rows, expected, _day(since), _day(until), run.seconds, run_seconds, landing.writer_seconds,
                  run.peak_rss_mb,
                  run.cpu_seconds, sim_cpu, sim_rss, requests, load,
                  tuple(run.rss.at(f) for f in (0.25, 0.5, 0.75, 1.0)), not problems)


def print_line(r: Result) -> None:
    run = f", {r.run_seconds:.2f}s in-run" if r.run_seconds is not None else ""
    if r.run_seconds and r.writer_seconds is not None:
        run += f" (writer busy {r.writer_seconds / r.run_seconds:.0%})"
    shape = "/".join(f"{x:.0f}" for x in r.rss_quarters)
    print(
        f"{r.rows:>9,} rows  {r.seconds:7.2f}s  {r.rate:>9,.0f} rows/s  peak RSS {r.peak_rss_mb:6.1f} MB"
        f"{'' if r.ok else '  [CHECK FAILED]'}\n"
        f"          harvester CPU {r.cpu_seconds:.1f}s = {r.cpu_us_per_row:.1f} us/row{run}, RSS at 25/50/75/100% of the run {shape} MB; "
        f"simulator CPU {r.sim_cpu_seconds:.1f}s, peak RSS {r.sim_peak_rss_mb:.0f} MB; "
        f"{r.requests} requests; load {r.load}",
        flush=True,
    )


def print_summary(results: list[Result]) -> None:
    header = (f"{'size':>9} {'rows':>9} {'range':>23} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>11} "
              f"{'CPU s':>6} {'CPU us/row':>10} {'sim CPU s':>9} {'sim RSS MB':>10} {'load (1/5/15m)':>15}")
    print("\nsummary")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.size:>9,} {r.rows:>9,} {r.since + '..' + r.until:>23} {r.seconds:>8.2f} {r.rate:>9,.0f} "
              f"{r.peak_rss_mb:>11.1f} {r.cpu_seconds:>6.1f} {r.cpu_us_per_row:>10.1f} {r.sim_cpu_seconds:>9.1f} "
              f"{r.sim_peak_rss_mb:>10.0f} {r.load:>15}")
    print("\nreference: dlt ~15,000-20,000 rows/s, 400 -> 650 MB; target >= 100,000 rows/s, peak RSS < 200 MB and flat")


def _parse_settings(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, dict[str, object]]:
    overrides: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            parser.error(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare word: take it as a string
        overrides.setdefault(section, {})[name] = parsed
    return overrides


def _profiler(parser: argparse.ArgumentParser, kind: str | None) -> list[str]:
    """The command that precedes `-m harvester ...`: the interpreter, maybe under a profiler."""
    if kind is None:
        return [sys.executable]
    if kind == "cprofile":
        return [sys.executable, "-m", "cProfile", "-o", "{tmp}/harvester-{label}.prof"]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        parser.error("py-spy is not installed (pip install py-spy)")
    gil = ["--gil"] if kind == "py-spy-gil" else []
    return [spy, "record", "--rate", "100", "--threads", *gil, "--format", "raw", "--output",
            "{tmp}/harvester-{label}.pyspy.txt", "--", sys.executable]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250000,1000000", help="comma-separated target row counts")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated server latency per request")
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--days", type=int, default=90, help="days of simulated history")
    parser.add_argument("--org-rows", type=int, default=1_000_000,
                        help="log entries the simulated history holds (at least the largest size), so a size "
                             "harvests the same window whatever other sizes are run with it")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (each with a fresh warehouse)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a harvester setting, VALUE in TOML (e.g. harvest.commit_rows=5000, "
                             "warehouse.memory_limit='64MB'); repeatable")
    parser.add_argument("--profile", choices=["cprofile", "py-spy", "py-spy-gil"],
                        help="run the harvester under cProfile (main thread only), py-spy (all threads, "
                             "raw collapsed stacks) or py-spy --gil (only the thread holding the GIL); output "
                             "goes to the temp dir (implies --keep). "
                             "Figures of a profiled run are not comparable")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (warehouses, configs, logs)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    if not sizes or min(sizes) <= 0:
        parser.error("--sizes needs positive integers")
    keep = args.keep or bool(args.profile)
    overrides = _parse_settings(parser, args.settings)
    wrap = _profiler(parser, args.profile)

    signal.signal(signal.SIGTERM, _on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="harvest-bench-"))
    results: list[Result] = []
    try:
        config = sim_config(max(sizes[-1], args.org_rows), args.days, args.projects, args.latency_ms)
        started = time.perf_counter()
        days = daily_counts(config)
        print(
            f"simulated org: {args.projects} projects, {args.days} days "
            f"({_day(config.history_start)}..{_day(config.end)}), {sum(n for _, n in days):,} log entries; "
            f"latency {args.latency_ms:g} ms; ground truth in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, temp dir {tmp}", flush=True)
        print(f"code: {_code_version()}", flush=True)
        for size in sizes:
            for i in range(args.repeat):
                label = f"{size}-{i}"
                result = bench_size(size, config, days, tmp, label, overrides=overrides, wrap=wrap)
                results.append(result)
                print_line(result)
        print_summary(results)
        return 0 if all(r.ok for r in results) else 1
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
