"""Parquet lake benchmark: mirror a warehouse of N synthetic log rows, each step in its own process.

    .venv/bin/python bench/lake.py                          # 1M rows over 90 days
    .venv/bin/python bench/lake.py --rows 250000 --days 30 --keep /tmp/lake-bench

1. builds (or, with --keep and an existing folder, reuses) a warehouse whose
   `project_action_logs` holds `rows` synthetic entries spread evenly over `days` UTC
   days, inserted straight through SQL into the table the Warehouse API created
   (a `raw` of about 400 bytes of JSON per row, like the simulator's entries);
2. runs, each in a fresh `python` process so its peak RSS (`ru_maxrss`, checked against
   /proc's VmHWM) is its own:
   - `full`: mirror into an empty lake (every partition written),
   - `noop`: the same again (nothing changed: summaries only),
   - `incremental`: after 1,000 new rows on each of 2 days (2 partitions rewritten);
3. prints seconds (the `mirror` call alone, imports excluded), peak RSS, partitions
   rewritten and the lake's size, and checks the lake's row count equals the warehouse's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

_ROWS_SQL = """
INSERT INTO project_action_logs
    (id, created_at, project_id, author_id, event, email, status, kind, source, errored, raw, harvested_at)
SELECT id, created_at, project_id, author_id, event, NULL, NULL, NULL, NULL, false,
       json_object('id', id, 'createdAt', strftime(created_at, '%Y-%m-%dT%H:%M:%S.%gZ'), 'projectId', project_id,
                   'authorId', author_id, 'event', event,
                   'payload', json_object('table', 'orders_' || (n % 40), 'rowId', md5(id),
                                          'changes', json_array(md5(id || 'a'), md5(id || 'b'), md5(id || 'c')),
                                          'userAgent', 'Mozilla/5.0 (X11; Linux x86_64) AbstraEditor/1.0')),
       now()
FROM (
    SELECT n, printf('%s-%010d', $tag, n) AS id,
           TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds(CAST(n * $spacing AS BIGINT)) AS created_at,
           'project-' || (n % 40) AS project_id, 'author-' || (n % 300) AS author_id,
           (['createTable', 'updateRow', 'deleteRow', 'deployProject', 'updateForm'])[1 + n % 5] AS event
    FROM range($first, $first + $count) AS r(n)
)
"""


def build(path: Path, rows: int, days: int) -> None:
    import duckdb

    from sinks import Warehouse

    Warehouse.open(path, ABSTRA_TABLES).close()  # the schema, exactly as a harvest creates it
    spacing = days * 86_400_000_000 / rows  # microseconds between rows
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_ROWS_SQL, {"tag": "log", "spacing": spacing, "first": 0, "count": rows})


def touch_two_days(path: Path, rows: int, days: int) -> None:
    """1,000 late rows on each of two days (as an incremental harvest would land)."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        for day in (days // 3, days // 2):
            con.execute(
                _ROWS_SQL,
                {
                    "tag": f"late{day}-{time.time_ns()}",
                    "spacing": 86_400_000_000 / 1000 / 1000,
                    "first": day * 1_000_000,
                    "count": 1000,
                },
            )


def run_step(*args: str) -> str:
    """Run `bench/lake.py --step ...` in a fresh process; return its last stdout line.

    Every step runs in its own process, and this parent never loads DuckDB: Linux
    carries a process's RSS high-water mark across fork and exec, so a child forked
    from a big parent would report the parent's peak as its own.
    """
    out = subprocess.run([sys.executable, __file__, "--step", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"step {args[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def mirror_step(path: Path, lake: Path, memory_limit: str) -> dict[str, float]:
    """Time one `mirror` call; peak RSS from getrusage and from VmHWM (they agree here)."""
    import resource

    from harvester.logs import configure_logging
    from sinks.lake import mirror

    configure_logging(json=True, level="warning")
    base = _hwm_mb()
    started = time.perf_counter()
    rewritten = mirror(path, str(lake), memory_limit=memory_limit)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vm_hwm_mb": _hwm_mb(),
        "import_rss_mb": base,
        "partitions": sum(rewritten.values()),
    }


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def check(path: Path, lake: Path) -> tuple[int, int]:
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"ATTACH '{path}' AS w (READ_ONLY)")
        want = con.execute("SELECT count(*) FROM w.project_action_logs").fetchone()
        got = con.execute(
            f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{lake}/project_action_logs/*/*.parquet')"
        ).fetchone()
    assert want is not None and got is not None
    if got != (want[0], want[0]):
        raise SystemExit(f"lake holds {got} rows/distinct ids, warehouse {want[0]}")
    return want[0], sum(f.stat().st_size for f in lake.rglob("*.parquet"))


def _step(args: list[str]) -> None:
    step, path, *rest = args
    if step == "build":
        build(Path(path), int(rest[0]), int(rest[1]))
    elif step == "touch":
        touch_two_days(Path(path), int(rest[0]), int(rest[1]))
    elif step == "mirror":
        print(json.dumps(mirror_step(Path(path), Path(rest[0]), rest[1])))
    elif step == "check":
        print(json.dumps(check(Path(path), Path(rest[0]))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--memory-limit", default="128MB", help="DuckDB memory limit of the mirror (the default's)")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (and reuse its warehouse)")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _step(args.step)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="lake-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path, lake = work / f"bench-{args.rows}-{args.days}.duckdb", work / "lake"
    sizes = (str(args.rows), str(args.days))
    try:
        if not path.exists():
            started = time.perf_counter()
            run_step("build", str(path), *sizes)
            print(
                f"built {args.rows:,} rows over {args.days} days in {time.perf_counter() - started:.1f}s "
                f"({path.stat().st_size / 1e6:.0f} MB warehouse)"
            )
        shutil.rmtree(lake, ignore_errors=True)
        results = {"full": json.loads(run_step("mirror", str(path), str(lake), args.memory_limit))}
        rows, size = json.loads(run_step("check", str(path), str(lake)))
        results["noop"] = json.loads(run_step("mirror", str(path), str(lake), args.memory_limit))
        run_step("touch", str(path), *sizes)
        results["incremental"] = json.loads(run_step("mirror", str(path), str(lake), args.memory_limit))
        run_step("check", str(path), str(lake))
        print(
            f"lake: {rows:,} rows, {size / 1e6:.1f} MB of Parquet (zstd) in {args.days} day partitions; "
            f"DuckDB memory_limit {args.memory_limit}"
        )
        print(
            f"{'step':<12} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'VmHWM MB':>9} "
            f"{'after imports':>14} {'partitions':>11}"
        )
        for step, r in results.items():
            rate = f"{rows / r['seconds']:,.0f}" if step == "full" else "-"
            print(
                f"{step:<12} {r['seconds']:>8.2f} {rate:>10} {r['peak_rss_mb']:>12.0f} {r['vm_hwm_mb']:>9.0f} "
                f"{r['import_rss_mb']:>14.0f} {int(r['partitions']):>11}"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
