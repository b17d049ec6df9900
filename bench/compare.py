"""The ceiling, this harvester and dlt, side by side in one run (issue 10, goals 1 and 2).

    .venv/bin/python bench/compare.py                          # 250k and 1M rows
    .venv/bin/python bench/compare.py --sizes 250000,1000000,5000000   # + 5M (~15 min more)
    .venv/bin/python bench/compare.py --only ceiling,harvester --set harvest.page_size=1000

For each size, three contenders harvest the same six log streams over the same
window, each from a fresh simulator (`python -m harvester.simulator`, 20 ms latency
per call, page size up to 1000) in its own process, one after the other:

- **ceiling**: `bench/null_harvester.py`: every page fetched with aiohttp at
  concurrency 8, page 1000, parsed with orjson and thrown away;
- **harvester**: `python -m harvester backfill` with the settings of
  `config.example.toml` (only the warehouse path and the streams changed; `--set`
  overrides any), into a fresh DuckDB file, then checked against ground truth;
- **dlt** (when `import dlt` works in this venv): `bench/dlt_pipeline.py`.

Each is timed as a whole process (start-up and imports included). Peak RSS is the
largest sum of RSS over the process and its children (psutil, every 20 ms), or the
main process's own `VmHWM` if larger. It prints rows/s, the fraction of the ceiling
measured in the same run, peak RSS and CPU seconds, and exits 1 when the harvester
lands other than the simulator's ground truth (or another contender misses rows).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import harvest  # bench/harvest.py: the simulator, the organization, the warehouse check
import orjson
import psutil
from harvest import (
    HOST,
    TOKEN,
    _children,
    _code_version,
    _day,
    _load,
    _parse_settings,
    _stop,
    _toml_value,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CONTENDERS = ("ceiling", "harvester", "dlt")


@dataclass
class Measured:
    contender: str
    size: int
    rows: int
    expected: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


class TreeRss:
    """Peak RSS of a process plus its children, sampled; and the process's own VmHWM."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak_tree = 0.0
        self.hwm = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.wait(self.interval):
            try:
                family = [proc, *proc.children(recursive=True)]
                total = 0
                for p in family:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                self.peak_tree = max(self.peak_tree, total / 2**20)
                hwm = harvest._proc_status(self.pid, "VmHWM")
                if hwm == hwm:
                    self.hwm = max(self.hwm, hwm)
            except psutil.NoSuchProcess:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_tree, self.hwm)


def _env(port: int) -> dict[str, str]:
    env = {**os.environ, "ABSTRA_API_TOKEN": TOKEN, "CLOUD_API_ENDPOINT": f"http://{HOST}:{port}", "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    return env


def measure(cmd: list[str], env: dict[str, str], tmp: Path, label: str) -> tuple[float, float, float, str]:
    """Run `cmd` to its end: (wall seconds, peak RSS MiB, CPU seconds, stdout)."""
    (tmp / f"{label}.cmd").write_text(" ".join(cmd) + "\n")
    out_path, err_path = tmp / f"{label}.out", tmp / f"{label}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        _children.append(proc)
        rss = TreeRss(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _stop(proc)
            raise
        finally:
            peak = rss.stop()
            _children.remove(proc)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{label} exited with code {proc.returncode}:\n{tail}")
    return seconds, peak, usage.ru_utime + usage.ru_stime, out_path.read_text()


def example_config(warehouse: Path, overrides: dict[str, dict[str, object]]) -> str:
    """config.example.toml as a user copies it: only the warehouse path changed (and `--set`)."""
    sections = tomllib.loads((ROOT / "config.example.toml").read_text())
    sections["warehouse"]["duckdb"] = str(warehouse)
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
        for name, values in sections.items()
    )


def run_contender(contender: str, port: int, since: str, until: str, tmp: Path, label: str,
                  overrides: dict[str, dict[str, object]]) -> tuple[int, float, float, float, str]:
    """(rows, seconds, peak RSS, CPU seconds, problem) of one contender against the simulator on `port`."""
    env, endpoint = _env(port), f"http://{HOST}:{port}"
    window = ["--since", since, "--until", until]
    if contender == "ceiling":
        cmd = [sys.executable, str(BENCH / "null_harvester.py"), "--endpoint", endpoint, "--token", TOKEN, *window]
        seconds, peak, cpu, out = measure(cmd, env, tmp, label)
        return orjson.loads(out.splitlines()[-1])["rows"], seconds, peak, cpu, ""
    if contender == "dlt":
        database, work = tmp / f"{label}.duckdb", tmp / f"{label}-dlt"
        cmd = [sys.executable, str(BENCH / "dlt_pipeline.py"), "--endpoint", endpoint, "--token", TOKEN, *window,
               "--database", str(database), "--work-dir", str(work)]
        seconds, peak, cpu, out = measure(cmd, env, tmp, label)
        shutil.rmtree(work, ignore_errors=True)
        return orjson.loads(out.splitlines()[-1])["rows"], seconds, peak, cpu, ""
    warehouse, toml = tmp / f"{label}.duckdb", tmp / f"{label}.toml"
    toml.write_text(example_config(warehouse, overrides))
    cmd = [sys.executable, "-m", "harvester", "--log-format", "json", "--log-level", "warning", "backfill",
           "--config", str(toml), *window, "--streams", ",".join(harvest.LOG_STREAMS)]
    seconds, peak, cpu, _ = measure(cmd, env, tmp, label)
    landing = harvest.inspect_warehouse(warehouse)
    rows, problems = landing.rows, landing.problems
    return rows, seconds, peak, cpu, "; ".join(problems)


def _plausible(contender: str, rows: int, expected: int) -> bool:
    """The harvester must land exactly the ground truth. The others keep what the API
    serves: its `to` is inclusive, so an entry stamped exactly on a slice boundary comes
    twice (ceiling) or once more at the window's end (dlt, which dedupes on id)."""
    if contender == "harvester":
        return rows == expected
    return expected <= rows <= expected + max(100, expected // 1000)


def bench_size(size: int, config: harvest.SimConfig, days: list[tuple[object, int]], tmp: Path,
               contenders: list[str], overrides: dict[str, dict[str, object]]) -> list[Measured]:
    since_dt, until_dt, expected = harvest.window_for(size, days)  # type: ignore[arg-type]
    since, until = _day(since_dt), _day(until_dt)
    results = []
    for contender in contenders:
        sim, port = harvest.start_simulator(config, tmp)  # a cold simulator for each contender
        try:
            rows, seconds, peak, cpu, problem = run_contender(contender, port, since, until, tmp,
                                                              f"{contender}-{size}", overrides)
        finally:
            _stop(sim)
            _children.remove(sim)
        if not problem and not _plausible(contender, rows, expected):
            problem = f"{rows} rows but the simulator holds {expected} in {since}..{until}"
        result = Measured(contender, size, rows, expected, seconds, peak, cpu, problem)
        print(f"  {contender:<9} {size:>9,}: {rows:>9,} rows in {seconds:6.2f}s = {result.rate:>9,.0f} rows/s, "
              f"peak RSS {peak:6.1f} MiB, CPU {cpu:5.1f}s{'  PROBLEM: ' + problem if problem else ''}", flush=True)
        results.append(result)
    return results


def print_table(results: list[Measured]) -> None:
    ceilings = {r.size: r.rate for r in results if r.contender == "ceiling"}
    print("\n| size | contender | rows | seconds | rows/s | of ceiling | peak RSS MiB | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        ceiling = ceilings.get(r.size)
        share = f"{r.rate / ceiling:.2f}" if ceiling else "-"
        flag = " (CHECK FAILED)" if r.problem else ""
        print(f"| {r.size:,} | {r.contender}{flag} | {r.rows:,} | {r.seconds:.2f} | {r.rate:,.0f} | {share} "
              f"| {r.peak_rss_mb:.0f} | {r.cpu_seconds:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250000,1000000",
                        help="comma-separated target row counts (5000000 adds ~15 min on 2 cores)")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="contenders to run: ceiling,harvester,dlt")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--org-rows", type=int, default=1_000_000,
                        help="entries in the simulated history (raised to the largest size)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a harvester setting (TOML value); repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    contenders = [c for c in CONTENDERS if c in args.only.split(",")]
    if "dlt" in contenders and importlib.util.find_spec("dlt") is None:
        print("dlt is not importable in this venv: skipped (pip install dlt to compare)", flush=True)
        contenders.remove("dlt")
    overrides = _parse_settings(parser, args.settings)
    signal.signal(signal.SIGTERM, harvest._on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="compare-bench-"))
    results: list[Measured] = []
    try:
        config = harvest.sim_config(max(sizes[-1], args.org_rows), 90, 20, args.latency_ms)
        days = harvest.daily_counts(config)
        print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, load {_load()}, latency "
              f"{args.latency_ms:g} ms, {sum(n for _, n in days):,} entries in the org, temp dir {tmp}", flush=True)
        print(f"code: {_code_version()}", flush=True)
        for size in sizes:
            results += bench_size(size, config, days, tmp, contenders, overrides)
        print_table(results)
        return 0 if not any(r.problem for r in results) else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        harvest._stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
