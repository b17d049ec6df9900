"""`serve` in its own process (`python -m harvester.simulator`), as the benchmark runs it."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson

from .helpers import call


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _members_when_ready(endpoint: str) -> int:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                _, body = await call(session, endpoint, "get_members")
                return len(body["data"])
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("the simulator process never answered")


def test_module_entry_point_serves_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_bytes(orjson.dumps({"members": 3, "projects": 2}))
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "harvester.simulator", "--port", str(port), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert asyncio.run(_members_when_ready(f"http://127.0.0.1:{port}")) == 3
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr.decode()[-2000:]
