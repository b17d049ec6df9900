"""The writer alone: where a row's time goes when log pages are committed as reply bytes.

    .venv/bin/python bench/writer.py                  # 1M rows, batches of 20 pages
    .venv/bin/python bench/writer.py --pages 300 --batch 10 --memory-limit 128MB

Builds `pages` synthetic replies of 1,000 log entries, dealt over the chains of a 90-day
backfill of the six Abstra log tables (each chain walks its 30-day slice newest first,
so each batch meets the stored rows a run's batch meets), and commits them as
`EntryPage`s in batches of `batch` pages into a fresh warehouse (in the current folder)
with the defaults of a run, then closes it. Prints µs per row for the commits
(building the replies excluded) and the close, the peak RSS, the rows/s that bound any
run with one writer, and the statements that took the most time in all, per row: the
figures of `bench/README.md`. No network, no simulator: the machine's cores are the
writer's.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.pages import EntryPage, PageWrite, Row
from harvester.sources.abstra.streams import TABLES
from sinks import Warehouse
from sinks.duckdb_sink import DEFAULT_CHECKPOINT_THRESHOLD

LOG_TABLES = ("organization_action_logs", "project_action_logs", "auth_attempt_logs",
              "email_notification_logs", "connector_action_logs", "ai_prompt_logs")
EVENTS = ("createProject", "createBuild", "createTable", "updateRow", "executeQuery", "uploadFile")
CHAINS = 18  # six tables x three 30-day slices, as a 90-day backfill plans them
_EPOCH = datetime(2025, 3, 3, tzinfo=UTC).timestamp()
_SLICE = 30 * 86400.0


def reply(rng: random.Random, newest: float, oldest: float, entries: int) -> bytes:
    """One page of ~170-byte entries, newest first in [oldest, newest), as the simulator serves them."""
    step = (newest - oldest) / entries
    items = []
    for k in range(entries):
        created = datetime.fromtimestamp(newest - (k + 1) * step, UTC).isoformat(timespec="milliseconds")
        items.append(
            f'{{"id":"{rng.getrandbits(96):024x}","createdAt":"{created[:-6]}Z","projectId":"p{rng.randrange(20):03d}",'
            f'"authorId":"a{rng.getrandbits(40):010x}","event":"{rng.choice(EVENTS)}","entityType":"table",'
            f'"entityId":"{rng.getrandbits(96):024x}"}}'
        )
    return ('{"status":"success","data":{"entries":[' + ",".join(items) + '],"nextCursor":null}}').encode()


def page(rng: random.Random, index: int, pages: int) -> PageWrite:
    """Page `index` of a backfill's `pages`, dealt round-robin over its chains (each of
    the six tables over three 30-day slices): each chain walks its slice newest first,
    so a batch touches a few days per chain, as in a run, and the probe for stored keys
    meets the rows a run would meet."""
    chain, step = index % CHAINS, index // CHAINS
    per_chain = -(-pages // CHAINS)
    newest = _EPOCH + (chain // 6 + 1) * _SLICE
    span = _SLICE / per_chain
    body = reply(rng, newest - step * span, newest - (step + 1) * span, 1000)
    entries = EntryPage(body, ("data", "entries"), 1000, never, ("createdAt",))
    return PageWrite(None, LOG_TABLES[chain % 6], [], None, entries=entries)


def never() -> tuple[list[Row], list[Any]]:
    raise SystemExit("a page needed the Python builder: the figures would not be the SQL path's")


class Timed:
    """A connection that adds up the time of each kind of statement."""

    def __init__(self, con: Any, spent: dict[str, list[float]]) -> None:
        self._con, self._spent = con, spent

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        result = self._con.execute(sql, *args)
        kind = re.sub(r"\s+", " ", sql)[:60]
        self._spent[kind][0] += 1
        self._spent[kind][1] += time.perf_counter() - started
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000, help="pages of 1,000 entries (default 1000 = 1M rows)")
    parser.add_argument("--batch", type=int, default=20, help="pages per transaction (commit_rows / 1000)")
    parser.add_argument("--memory-limit", default="48MB", help="the default of a run")
    parser.add_argument("--checkpoint-threshold", default=DEFAULT_CHECKPOINT_THRESHOLD)
    args = parser.parse_args()
    rng = random.Random(1)
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    generating = 0.0
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:  # a real disk, as a run's
        wh = Warehouse.open(Path(folder) / "w.duckdb", TABLES.values(), memory_limit=args.memory_limit,
                            checkpoint_threshold=args.checkpoint_threshold)
        wh._con = Timed(wh._con, spent)  # type: ignore[assignment]  # a bench's probe
        started = time.perf_counter()
        for at in range(0, args.pages, args.batch):
            made = time.perf_counter()
            batch = [page(rng, i, args.pages) for i in range(at, min(at + args.batch, args.pages))]
            generating += time.perf_counter() - made
            wh.commit_pages(batch)
        committed = time.perf_counter()
        wh.close()
        closed = time.perf_counter()
    rows = args.pages * 1000
    commits = committed - started - generating
    print(f"{rows:,} rows in batches of {args.batch} pages: commits {commits / rows * 1e6:.1f} µs/row, "
          f"close (final checkpoint) {(closed - committed) / rows * 1e6:.1f} µs/row, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    per_row = (commits + closed - committed) / rows
    print(f"so a run's one writer lands at most {1 / per_row:,.0f} rows/s of such pages, "
          "however fast the API and the rest of the run")
    for kind, (count, seconds) in sorted(spent.items(), key=lambda item: -item[1][1])[:8]:
        print(f"  {seconds / rows * 1e6:6.2f} µs/row  {int(count):5d}x  {kind}")


if __name__ == "__main__":
    main()
