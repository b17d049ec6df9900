"""The ceiling: fetch every page of the six log streams and throw the rows away.

    python bench/null_harvester.py --endpoint http://127.0.0.1:PORT --token T \
        --since 2025-03-03 --until 2025-05-29 [--concurrency 8] [--page-size 1000]

What a harvester could not beat on this machine: the same requests a harvester makes
(one cursor chain per stream and 31-day slice, `get_project_action_logs` with every
project id in one batch), `concurrency` chains in flight over one aiohttp session,
each reply parsed with orjson, and nothing kept. `bench/compare.py` times it as a
whole process (interpreter start-up and imports included), like the harvester.

It prints one JSON line: `{"rows": ..., "pages": ..., "seconds": ...}`. The request
plan is also what `bench/dlt_pipeline.py` fetches, so all three contenders ask the
same questions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

__all__ = ["Chain", "chains", "execute_url", "log_body", "main", "project_ids_of"]

# the six log actions and their stream names (kept here, not imported, so the ceiling
# does not move when the harvester's modules do)
LOG_ACTIONS: dict[str, str] = {
    "organization_action_logs": "get_organization_action_logs",
    "project_action_logs": "get_project_action_logs",
    "auth_attempt_logs": "get_auth_attempt_logs",
    "email_notification_logs": "get_email_notification_logs",
    "connector_action_logs": "get_connector_action_logs",
    "ai_prompt_logs": "get_ai_prompt_logs",
}
SLICE = timedelta(days=31)  # the API's widest window, and the harvester's default slice


@dataclass(frozen=True)
class Chain:
    """One cursor chain: a stream over one window (and, for project logs, the projects)."""

    stream: str
    parameters: dict[str, Any]


def _wire(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def execute_url(endpoint: str, connection: str = "abstra-manager") -> str:
    return f"{endpoint.rstrip('/')}/cli/connectors/connection/{connection}/execute"


def log_body(stream: str, parameters: dict[str, Any], cursor: str | None, connection: str = "abstra-manager") -> bytes:
    """The request body of one page of `stream`."""
    params = {**parameters, **({"cursor": cursor} if cursor else {})}
    return orjson.dumps({"connectionName": connection, "actionName": LOG_ACTIONS[stream], "parameters": params})


def project_ids_of(organization: Any) -> list[str]:
    """Project ids in a `get_organization` reply's data."""
    return sorted({str(p["id"]) for f in organization.get("folders", []) for p in f.get("projects", []) if "id" in p})


def chains(since: datetime, until: datetime, project_ids: list[str], page_size: int) -> Iterator[Chain]:
    """Every chain of the six log streams over [since, until), in 31-day slices."""
    for stream in LOG_ACTIONS:
        start = since
        while start < until:
            end = min(start + SLICE, until)
            params: dict[str, Any] = {"from": _wire(start), "to": _wire(end), "limit": page_size}
            if stream == "project_action_logs":
                for i in range(0, len(project_ids), 100):
                    yield Chain(stream, {**params, "projectIds": project_ids[i : i + 100]})
            else:
                yield Chain(stream, params)
            start = end


async def _post(session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes) -> Any:
    async with session.post(url, data=body, headers=headers) as reply:
        payload = await reply.read()
    if reply.status != 200:
        raise RuntimeError(f"HTTP {reply.status}: {payload[:200]!r}")
    return orjson.loads(payload)["data"]


async def run(endpoint: str, token: str, since: datetime, until: datetime, concurrency: int,
              page_size: int) -> tuple[int, int]:
    """(rows, pages) of every chain, `concurrency` chains at a time."""
    url = execute_url(endpoint)
    headers = {"Api-Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        org = await _post(session, url, headers, orjson.dumps(
            {"connectionName": "abstra-manager", "actionName": "get_organization"}))
        queue = list(chains(since, until, project_ids_of(org), page_size))
        totals = [0, 0]

        async def worker() -> None:
            while queue:
                chain, cursor = queue.pop(0), None
                while True:
                    data = await _post(session, url, headers, log_body(chain.stream, chain.parameters, cursor))
                    totals[0] += len(data["entries"])
                    totals[1] += 1
                    cursor = data.get("nextCursor")
                    if not cursor or not data["entries"]:
                        break

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return totals[0], totals[1]


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--since", required=True, type=_day, help="YYYY-MM-DD, inclusive")
    parser.add_argument("--until", required=True, type=_day, help="YYYY-MM-DD, exclusive")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows, pages = asyncio.run(run(args.endpoint, args.token, args.since, args.until, args.concurrency,
                                  args.page_size))
    print(orjson.dumps({"rows": rows, "pages": pages, "seconds": time.perf_counter() - started}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
