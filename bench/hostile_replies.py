"""Peak memory of a run against replies meant to exhaust it (issue 7, item 4).

The hostile server (tests/hostile.py) runs in this process; each scenario's harvest
runs in a fresh child process that reports its own peak RSS (`VmHWM`, which starts
afresh at exec), so the server's own buffers never count. Prints one line per scenario and exits 1 if a
run's peak reaches 300 MiB or the hostile partition did not fail as expected: at a
size cap (`max_reply_mb`; `max_reply_values` for a reply of millions of tiny values),
or, for the largest reply of tiny values the caps let through, at the entry count.

    .venv/bin/python bench/hostile_replies.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

from tests.hostile import TOKEN, Handler, hostile_server, reply_bytes  # noqa: E402

LIMIT_MIB = 300
_CHILD = """
import sys, anyio, orjson
from datetime import datetime, UTC
from pydantic import SecretStr
from harvester.config import AbstraSettings, HarvestSettings, Settings, WarehouseSettings
from harvester.runner import Backfill, harvest
start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
settings = Settings(
    abstra=AbstraSettings(endpoint=sys.argv[1], token=SecretStr(sys.argv[3]), max_retries=2),
    harvest=HarvestSettings(start=start, streams=("auth_attempt_logs",)),
    warehouse=WarehouseSettings(duckdb=sys.argv[2]),
)
report = anyio.run(harvest, settings, Backfill(start, end, ("auth_attempt_logs",)))
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
peak = int(hwm.split()[1]) / 1024  # KiB; VmHWM restarts at exec, unlike ru_maxrss
print(orjson.dumps({"peak_mib": peak, "status": report.status, "failures": report.failures}).decode())
"""


def gzip_bomb(inflated_mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [packer.compress(b'{"status": "success", "data": {"entries": [')]
    parts += [packer.compress(block) for _ in range(inflated_mib)]
    return b"".join([*parts, packer.compress(b"]}}"), packer.flush()])


def big_page(entries: int) -> bytes:
    one = b'{"id": "e%d", "createdAt": "2025-01-01T01:00:00.000Z", "event": "createProject", "pad": "' + b"x" * 120 + b'"}'
    body = b",".join(one % i for i in range(entries))
    return b'{"status": "success", "data": {"entries": [' + body + b'], "nextCursor": null}}'


def tiny_values(count: int) -> bytes:
    """`count` empty-object entries: 3 bytes each, ~70 bytes each once parsed."""
    return b'{"status": "success", "data": {"entries": [' + b",".join([b"{}"] * count) + b'], "nextCursor": null}}'


def chunked(body: bytes) -> Handler:
    """The same bytes without a Content-Length, so only the streaming cap can stop them."""

    async def handler(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        reply = web.StreamResponse(headers={"Content-Type": "application/json"})
        reply.enable_chunked_encoding()
        await reply.prepare(request)
        view = memoryview(body)
        for at in range(0, len(view), 1 << 20):
            await reply.write(view[at : at + (1 << 20)])
        return reply

    return handler


def run_child(endpoint: str, folder: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, endpoint, str(Path(folder) / "w.duckdb"), TOKEN],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"peak_mib": float("inf"), "status": f"exit {done.returncode}", "failures": [done.stderr[-300:]]}
    return dict(orjson.loads(lines[-1]))


def main() -> int:
    bomb = gzip_bomb(1024)
    page = big_page(1_000_000)
    tiny = tiny_values(10_000_000)
    under = tiny_values(999_990)  # just under the value cap: parsed, then refused by its count
    scenarios: dict[str, tuple[Handler, str]] = {  # each must fail with the words it names
        f"gzip bomb {len(bomb) / 1e6:.1f} MB -> 1 GiB": (
            reply_bytes(bomb, headers={"Content-Encoding": "gzip"}), "than max_reply_mb ="),
        f"page of 1M entries, {len(page) / 1e6:.0f} MB, Content-Length": (reply_bytes(page), "than max_reply_mb ="),
        f"page of 1M entries, {len(page) / 1e6:.0f} MB, chunked": (chunked(page), "than max_reply_mb ="),
        f"page of 10M {{}} entries, {len(tiny) / 1e6:.0f} MB, chunked": (chunked(tiny), "than max_reply_values ="),
        f"page of 999,990 {{}} entries, {len(under) / 1e6:.0f} MB": (chunked(under), "999990 entries"),
    }
    failed = False
    for name, (handler, expected) in scenarios.items():
        with hostile_server({"get_auth_attempt_logs": handler}) as server, tempfile.TemporaryDirectory() as tmp:
            result = run_child(server.endpoint, tmp)
        peak, failures = result["peak_mib"], " ".join(result["failures"])
        ok = peak < LIMIT_MIB and expected in failures
        why = failures[-110:]
        failed |= not ok
        print(f"{name:48s} peak RSS {peak:5.0f} MiB  {'ok' if ok else 'FAIL'}  {result['status']}: ...{why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
