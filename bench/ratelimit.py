"""Goal 3 of issue 10: how much of a server's rate limit a client uses, and at what cost in 429s.

    .venv/bin/python bench/ratelimit.py                         # R = 60/s, 5% other faults, 25 s per client
    .venv/bin/python bench/ratelimit.py --rate 120 --seconds 30 --workers 32

Starts the simulator in its own process with `rate_limit_rps = R` (a token bucket
holding R tokens: a request beyond it gets 429 + `Retry-After`), `fault_rate` of
other transient faults (5xx, resets, truncated JSON; no 429s among them, so every
429 counted is the rate limit's) and 20 ms latency. Then, for `--seconds` each, two
clients page the six log streams from `--workers` concurrent cursor chains (more
work than any limit lets through), retrying as `AbstraClient` does:

- **fixed**: `AbstraClient` as configured today (`concurrency = 8`, no rate set);
- **adaptive**: the same client through the harvester's own `Gate` (adaptive) from
  `harvester/adaptive.py` (its own concurrency raised to the gate's `max_limit`).

Printed per client: successful calls/s (calls that returned data, after retries),
R, their share of R, attempts/s, the share of attempts answered 429, and other
faults seen. Note that a request that passes the limiter and then meets a random
fault used a token, so successful calls top out near R x (1 - fault rate) plus the
bucket's initial burst of R.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import harvest  # bench/harvest.py: simulator process helpers
from harvest import HOST, TOKEN, _stop
from pydantic import SecretStr

from harvester.adaptive import AdaptiveLimit
from harvester.errors import HarvestError
from harvester.http import Gate
from harvester.logs import configure_logging
from harvester.retry import RetryPolicy
from harvester.simulator import LOG_STREAMS, SimConfig
from harvester.simulator.config import TRANSIENT_FAULTS
from harvester.sources.abstra.client import AbstraClient
from harvester.sources.abstra.models import LogQuery
from harvester.transport import AiohttpTransport, Response, Transport

CONNECTION = "abstra-manager"
ACTIONS = [f"get_{s}" for s in LOG_STREAMS if s != "project_action_logs"]  # no project ids needed


class CountingTransport:
    """Counts every attempt by reply status (or by the error the transport raised)."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.counts: Counter[str] = Counter()

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        try:
            response = await self._inner.request(method, url, headers, body)
        except HarvestError:
            self.counts["transport error"] += 1
            raise
        self.counts[str(response.status)] += 1
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def drive(client: AbstraClient, config: SimConfig, workers: int, seconds: float) -> int:
    """Page log streams from `workers` cursor chains for `seconds`; returns the calls that
    succeeded within them."""
    done = 0
    deadline = anyio.current_time() + seconds
    day = config.history_start

    async def chain(worker: int) -> None:
        nonlocal done
        action, start, cursor = ACTIONS[worker % len(ACTIONS)], day + timedelta(days=worker % 60), None
        while anyio.current_time() < deadline:
            query = LogQuery(**{"from": start, "to": start + timedelta(days=1)}, limit=50, cursor=cursor)
            try:
                page = await client.log_page(action, query)
            except HarvestError:
                continue  # gave up after retries: start the call again
            if anyio.current_time() < deadline:
                done += 1
            cursor = page.next_cursor
            if not cursor:
                start = start + timedelta(days=1) if start + timedelta(days=2) < config.end else day

    with anyio.move_on_after(seconds + 5):  # calls sleeping in a retry at the deadline
        async with anyio.create_task_group() as tg:
            for worker in range(workers):
                tg.start_soon(chain, worker)
    return done


class FixedGate:
    """The gate before it learnt: a fixed number of requests in flight, no pacing."""

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._slots: anyio.CapacityLimiter | None = None
        self.control: AdaptiveLimit | None = None

    async def send(self, transport: Transport, method: str, url: str, headers: Any, body: bytes) -> Any:
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self._concurrency)
        async with self._slots:
            return await transport.request(method, url, headers, body)


async def run_client(kind: str, endpoint: str, config: SimConfig, workers: int, seconds: float,
                     ) -> tuple[int, float, Counter[str], AdaptiveLimit | None]:
    counting = CountingTransport(AiohttpTransport(timeout_seconds=30, pool_size=64))
    gate: Any = Gate(concurrency=workers) if kind == "adaptive" else FixedGate(8)
    client = AbstraClient(endpoint=endpoint, connection=CONNECTION, token=SecretStr(TOKEN), transport=counting,
                          retry=RetryPolicy(max_retries=6), gate=gate)
    started = time.perf_counter()
    async with client:
        done = await drive(client, config, workers, seconds)
    return done, time.perf_counter() - started, counting.counts, gate.control


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=60.0, help="R: requests/s the server allows")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of other transient faults")
    parser.add_argument("--seconds", type=float, default=25.0, help="per client")
    parser.add_argument("--workers", type=int, default=16, help="concurrent cursor chains")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--only", default="fixed,adaptive")
    args = parser.parse_args(argv)
    configure_logging(json=True, level="error")  # the retries of 5% faults are expected here
    config = SimConfig(seed=3, token=TOKEN, latency_ms=args.latency_ms, rate_limit_rps=args.rate,
                       fault_rate=args.fault_rate, fault_kinds=[k for k in TRANSIENT_FAULTS if k != "http_429"])
    tmp = Path(tempfile.mkdtemp(prefix="ratelimit-bench-"))
    print(f"R = {args.rate:g} requests/s, other faults {args.fault_rate:.0%}, latency {args.latency_ms:g} ms, "
          f"{args.workers} chains, {args.seconds:g} s per client; load {harvest._load()}", flush=True)
    print("| client | successful calls/s | R | of R | attempts/s | 429 share | other faults | notes |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for kind in [k for k in ("fixed", "adaptive") if k in args.only.split(",")]:
            sim, port = harvest.start_simulator(config, tmp)  # a fresh bucket for each client
            try:
                done, seconds, counts, control = anyio.run(
                    run_client, kind, f"http://{HOST}:{port}", config, args.workers, args.seconds)
            finally:
                _stop(sim)
                harvest._children.remove(sim)
            attempts = sum(counts.values())
            other = attempts - counts["200"] - counts["429"]
            notes = "" if control is None else (
                f"final rate {control.rate or 0:.1f}/s, limit {control.limit}, {control.cuts} cuts")
            rate = done / args.seconds
            print(f"| {kind} | {rate:.1f} | {args.rate:g} | {rate / args.rate:.2f} "
                  f"| {attempts / seconds:.1f} | {counts['429'] / max(1, attempts):.1%} | {other} | {notes} |",
                  flush=True)
    finally:
        harvest._stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
