"""The same harvest done with dlt, for reference (needs `pip install dlt` in your venv).

    python bench/dlt_pipeline.py --endpoint http://127.0.0.1:PORT --token T \
        --since 2025-03-03 --until 2025-05-29 --database out.duckdb --work-dir DIR

A small dlt REST pipeline written the way dlt's docs suggest: one parallelized
resource per cursor chain (the chains of `bench/null_harvester.py`, so every
contender asks the same questions), each writing into its stream's table with
`write_disposition="merge"` on `id` (dlt's dedupe, as the harvester dedupes), the
parquet loader into a DuckDB file. Extract workers = `--concurrency` (8), normalize
workers = 2 (the machine's cores); set through dlt's environment configuration.

Prints one JSON line: `{"rows": <rows in the six tables>, "seconds": ...}`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from null_harvester import (
    LOG_ACTIONS,
    Chain,
    chains,
    execute_url,
    log_body,
    project_ids_of,
)

__all__ = ["main"]


def _post(session: Any, url: str, headers: dict[str, str], body: bytes) -> Any:
    reply = session.post(url, data=body, headers=headers, timeout=120)
    reply.raise_for_status()
    return orjson.loads(reply.content)["data"]


def _pages(url: str, headers: dict[str, str], chain: Chain) -> Iterator[list[dict[str, Any]]]:
    import requests

    session, cursor = requests.Session(), None
    while True:
        data = _post(session, url, headers, log_body(chain.stream, chain.parameters, cursor))
        if data["entries"]:
            yield data["entries"]
        cursor = data.get("nextCursor")
        if not cursor or not data["entries"]:
            return


def _count(database: Path, dataset: str) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        return sum(
            con.execute(f'SELECT count(*) FROM "{dataset}"."{table}"').fetchone()[0]  # type: ignore[index]
            for table in LOG_ACTIONS
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--since", required=True)
    parser.add_argument("--until", required=True)
    parser.add_argument("--database", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path, help="dlt's pipelines dir (load packages)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    os.environ.setdefault("EXTRACT__WORKERS", str(args.concurrency))
    os.environ.setdefault("NORMALIZE__WORKERS", "2")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    started = time.perf_counter()
    import dlt
    import requests

    url = execute_url(args.endpoint)
    headers = {"Api-Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    org = _post(requests.Session(), url, headers,
                orjson.dumps({"connectionName": "abstra-manager", "actionName": "get_organization"}))
    since, until = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in (args.since, args.until))
    resources = [
        dlt.resource(_pages(url, headers, chain), name=f"{chain.stream}_{i}", table_name=chain.stream,
                     write_disposition="merge", primary_key="id", parallelized=True)
        for i, chain in enumerate(chains(since, until, project_ids_of(org), args.page_size))
    ]
    pipeline = dlt.pipeline(pipeline_name="bench", destination=dlt.destinations.duckdb(str(args.database)),
                            dataset_name="logs", pipelines_dir=str(args.work_dir))
    pipeline.run(resources, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    print(orjson.dumps({"rows": _count(args.database, "logs"), "seconds": seconds}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
