"""Hand-run benchmark (not a test): commit throughput and peak RSS of the log path.

    PYTHONPATH=. .venv/bin/python tests/sinks/bench_commit.py [rows] [batch] [memory_limit]

Commits `rows` synthetic connector-action-log rows in `batch`-row transactions (each
made of 500-row pages, as the writer coalesces them), then re-commits the last
batch to time the duplicate path. Prints rows/s of the commit calls alone (row
generation excluded) and the process's peak RSS (ru_maxrss).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harvester.runner  # noqa: F401 - the imports of a real run (aiohttp, structlog, ...)
from harvester.pages import Checkpoint, PageWrite
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

PAGE = 500


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each commit's own peak is visible."""
    try:
        with open("/proc/self/clear_refs", "w") as out:
            out.write("5")
    except OSError:
        pass


def _page(partition: Partition, start: int, now: datetime, pages: int) -> PageWrite:
    rows = [
        {
            "id": f"log-{i:09d}",
            "created_at": now - timedelta(seconds=i),
            "project_id": f"proj-{i % 50}",
            "author_id": f"author-{i % 300}",
            "event": "executeQuery",
            "source": ("app", "editor", "ai", "api")[i % 4],
            "errored": i % 97 == 0,
            "raw": {
                "id": f"log-{i:09d}",
                "createdAt": (now - timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "projectId": f"proj-{i % 50}",
                "authorId": f"author-{i % 300}",
                "event": "executeQuery",
                "source": ("app", "editor", "ai", "api")[i % 4],
                "payload": {"connector": "postgres", "query": "select * from t where id = $1", "ms": i % 1000},
            },
        }
        for i in range(start, start + PAGE)
    ]
    return PageWrite(partition, "connector_action_logs", rows, Checkpoint(partition.key, f"c{start}", pages=pages))


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    memory_limit = sys.argv[3] if len(sys.argv) > 3 else "128MB"
    now = datetime(2025, 6, 1, tzinfo=UTC)
    partition = Partition("connector_action_logs", now - timedelta(days=31), now)
    print(f"rss after imports: {_rss_mb():.0f} MB")
    with (
        tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp,
        Warehouse.open(Path(tmp) / "bench.duckdb", ABSTRA_TABLES, memory_limit=memory_limit) as wh,
    ):
        for setting in filter(None, os.environ.get("BENCH_SET", "").split(";")):
            wh._connection().execute(f"SET {setting}")  # experiments: BENCH_SET="threads=1;..."
        wh.register_partitions("bench", [partition])
        spent, cpu, pages, over = 0.0, 0.0, 0, 0
        last: list[PageWrite] = []
        for start in range(0, total, batch):
            last = []
            for offset in range(start, min(start + batch, total), PAGE):
                pages += 1
                last.append(_page(partition, offset, now, pages))
            _reset_peak()
            before = _proc_kb("VmRSS")
            began, cpu_began = time.perf_counter(), time.process_time()
            wh.commit_pages(last)
            spent += time.perf_counter() - began
            cpu += time.process_time() - cpu_began
            over = max(over, _proc_kb("VmHWM") - before)
            if start // batch % 40 == 0:
                print(f"  {start + batch:>9} rows  {spent:6.1f} s  rss {_rss_mb():.0f} MB", flush=True)
        began = time.perf_counter()
        wh.commit_pages(last)
        dup = time.perf_counter() - began
        began = time.perf_counter()
        wh._connection().execute("CHECKPOINT")
        final = time.perf_counter() - began
        (count,) = wh._connection().execute("SELECT count(*) FROM connector_action_logs").fetchone()  # type: ignore[misc]
        size = (Path(tmp) / "bench.duckdb").stat().st_size
    print(f"rows stored: {count}  file: {size / 1e6:.0f} MB")
    print(f"commit throughput: {total / spent:,.0f} rows/s ({spent:.1f} s for {total:,} rows, batch {batch})")
    print(f"commit cpu time: {cpu:.1f} s ({total / cpu:,.0f} rows per cpu-second)")
    print(f"final checkpoint: {final:.1f} s  -> end-to-end {total / (spent + final):,.0f} rows/s")
    print(f"re-commit of the last batch (all duplicates): {dup * 1000:.0f} ms")
    print(f"peak rss: {_rss_mb():.0f} MB; a commit's own peak above the rows it was given: {over / 1024:.0f} MB")


if __name__ == "__main__":
    main()
