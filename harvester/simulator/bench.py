"""`python -m harvester.simulator.bench`: how many log entries a second one simulator process serves.

Starts `python -m harvester.simulator` in its own process over a ~1M-entry
organization, then pages every day of the history with `limit=1000` from a few
concurrent cursor chains (one per day, like a harvester's partitions), and prints
entries/s for a cold pass (history generated on demand) and a warm pass (cached
days, as far as the cache holds them), both by wall clock and per CPU-second of the
server process (the client shares the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import orjson

from ..timeutil import format_wire
from .config import SimConfig
from .server import ROUTE

__all__ = ["main", "page_all"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _chain(session: aiohttp.ClientSession, url: str, token: str, params: dict[str, object]) -> int:
    headers = {"Api-Authorization": f"Bearer {token}"}
    cursor, served = None, 0
    while True:
        body = {"connectionName": "abstra-manager", "actionName": "get_connector_action_logs",
                "parameters": {**params, **({"cursor": cursor} if cursor else {})}}
        async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
            data = orjson.loads(await response.read())["data"]
        served += len(data["entries"])
        cursor = data["nextCursor"]
        if not cursor:
            return served


async def page_all(endpoint: str, config: SimConfig, concurrency: int) -> tuple[int, float]:
    """Page the whole history, one chain per day; returns (entries, seconds)."""
    url = endpoint + ROUTE.format(connection=config.connection)
    days = []
    day = config.history_start
    while day < config.end:
        days.append({"from": format_wire(day), "to": format_wire(day + timedelta(days=1)), "limit": 1000})
        day += timedelta(days=1)
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for params in days:
        queue.put_nowait(params)
    total = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal total
        while not queue.empty():
            served = await _chain(session, url, config.token, queue.get_nowait())
            total += served

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return total, time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), so a busy machine does not skew the figure."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _wait_ready(endpoint: str) -> None:
    for _ in range(200):
        try:
            async with aiohttp.ClientSession() as session, session.post(endpoint + "/") as response:
                await response.read()
                return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harvester.simulator.bench", description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="connector action logs over 90 days")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    config = SimConfig(events_per_day={"connector_action_logs": args.entries / 90})
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "sim.json"
        cfg.write_bytes(orjson.dumps(config.model_dump(mode="json")))
        server = subprocess.Popen(
            [sys.executable, "-m", "harvester.simulator", "--port", str(port), "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            asyncio.run(_wait_ready(endpoint))
            for label in ("cold", "warm"):
                cpu_before = _cpu_seconds(server.pid)
                entries, seconds = asyncio.run(page_all(endpoint, config, args.concurrency))
                cpu = _cpu_seconds(server.pid) - cpu_before
                print(
                    f"{label}: {entries} entries in {seconds:.2f}s = {entries / seconds:,.0f} entries/s wall; "
                    f"server CPU {cpu:.2f}s = {entries / cpu:,.0f} entries per server CPU-second"
                )
            print(f"server peak RSS: {_peak_rss_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
