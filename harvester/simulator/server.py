"""The HTTP face of the simulator: one aiohttp route, three ways to run it.

- `SimulatorServer(config)`: async context manager on 127.0.0.1, a free port.
- `run_in_thread(config)`: the same from a background thread's event loop, for
  tests that drive the harvester synchronously from the main thread.
- `serve(config, host, port)`: blocking, for `harvester simulate` and benchmarks.

Request flow: latency, live arrivals, rate limit, transport fault, then auth,
connection name, action; a data fault may bend the reply last. Replies never echo
the token.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import random
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from .actions import ActionError
from .config import LOG_STREAMS, SimConfig
from .connectors import add_discovery_routes, connections, run_action
from .faults import (
    DATA_FAULTS,
    TRANSPORT_FAULTS,
    Faults,
    TokenBucket,
    bend_reply,
    too_many_requests,
    transport_fault,
)
from .org import Org
from .upstream import Upstream

__all__ = [
    "ROUTE",
    "SIMULATOR_KEY",
    "ServerHandle",
    "Simulator",
    "SimulatorServer",
    "create_app",
    "run_in_thread",
    "serve",
    "serve_app",
]

ROUTE = "/cli/connectors/connection/{connection}/execute"
# seconds granted to in-flight requests (a hung `timeout` fault, say) at shutdown:
# short in-process so tests end promptly, longer for a standalone server
_SHUTDOWN_TIMEOUT = 0.25
_SERVE_SHUTDOWN_TIMEOUT = 2.0


class Simulator:
    """Config, organization, faults and request counters of one simulated API.

    `stats` counts `requests`, `ok`, `errors`, `http_<status>` for error replies,
    `rate_limited`, `faults`, `faults.<kind>`, `faults_ignored`, `entries_served`,
    `arrivals`, `action.<name>`, `custom.calls` (every `custom` request, refused or not)
    and `discovery`. `upstream` holds the fake services behind the HTTP connections.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.org = Org(self.config)
        self.upstream = Upstream(self.config)
        self.connections = connections(self.config)
        self.faults = Faults(self.config)
        self.stats: dict[str, int] = {}
        self.bucket = TokenBucket(self.config.rate_limit_rps) if self.config.rate_limit_rps > 0 else None
        self._rng = random.Random(self.config.seed * 104729 + 3)

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def inject(
        self, stream: str, count: int = 1, created_at: datetime | None = None, project_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Live entries (a log stream or "executions") created at `created_at` (default now)."""
        return self.org.inject(stream, count, created_at, project_id)

    def remove_project(self, project_id: str) -> None:
        self.org.remove_project(project_id)

    def remove_member(self, email: str) -> None:
        self.org.remove_member(email)

    def set_clock(self, instant: datetime | None) -> None:
        """Fix "now" (decides which executions are still running); None = real time."""
        self.org.clock = instant

    def dump_ground_truth(self, path: str | Path, start: datetime, end: datetime) -> int:
        return self.org.dump_ground_truth(path, start, end)

    def arrive(self) -> None:
        """`arrivals_per_request` new entries, now, in a random log stream."""
        n = self.config.arrivals_per_request
        if n:
            self.org.inject(self._rng.choice(LOG_STREAMS), n)
            self.count("arrivals", n)


SIMULATOR_KEY = web.AppKey("simulator", Simulator)


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps({"status": "error", "message": message}), content_type="application/json"
    )


def create_app(sim: Simulator) -> web.Application:
    """An aiohttp application serving `sim` at the connector `execute` route."""
    config = sim.config
    expected_auth = f"Bearer {config.token}".encode()

    def authorized(request: web.Request) -> bool:
        given = request.headers.get("Api-Authorization", "").encode()
        return hmac.compare_digest(given, expected_auth)

    async def execute_route(request: web.Request) -> web.StreamResponse:
        sim.count("requests")
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        action = body.get("actionName") if isinstance(body, dict) else None
        if action == "custom":
            sim.count("custom.calls")
        sim.arrive()
        if sim.bucket is not None:
            wait = sim.bucket.take()
            if wait > 0:
                sim.count("rate_limited")
                return too_many_requests(str(max(1, math.ceil(wait))))
        fault = sim.faults.pick(action if isinstance(action, str) else None)
        if fault in TRANSPORT_FAULTS:
            sim.count("faults")
            sim.count(f"faults.{fault}")
            response = await transport_fault(fault, request, config.hang_seconds)
            if response is not None:
                return response
        elif fault is not None and fault not in DATA_FAULTS:  # pragma: no cover - kinds are validated
            raise AssertionError(fault)

        if not authorized(request):
            sim.count("http_401")
            return _error(401, "Unauthorized: invalid API token")
        name = request.match_info["connection"]
        connection = sim.connections.get(name)
        if connection is None:
            sim.count("http_404")
            return _error(404, f"Connection '{name[:100]}' not found")
        if not isinstance(body, dict):
            sim.count("http_400")
            return _error(400, "Invalid request body: expected a JSON object with actionName and parameters")
        try:
            reply = run_action(sim.org, sim.upstream, connection, action, body.get("parameters"))
        except ActionError as exc:
            status = exc.http_status or config.error_http_status
            sim.count("errors")
            sim.count(f"http_{status}")
            return _error(status, exc.message)
        sim.count(f"action.{action}")
        sim.count("ok")
        if fault in DATA_FAULTS:
            bent = bend_reply(fault, reply, sim.faults.rng)
            if bent is not None:
                sim.count("faults")
                sim.count(f"faults.{fault}")
                return web.Response(body=bent[0], content_type=bent[1])
            sim.count("faults_ignored")
        if reply.entries is not None:
            sim.count("entries_served", len(reply.entries))
        return web.Response(body=reply.body(), content_type="application/json")

    app = web.Application()
    app[SIMULATOR_KEY] = sim
    if config.date_skew_seconds:
        app.on_response_prepare.append(_skewed_date(config.date_skew_seconds))
    app.router.add_post(ROUTE, execute_route)
    add_discovery_routes(app, sim.connections, authorized, sim.count)
    return app


def _skewed_date(seconds: float) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """A `Date` header `seconds` away from real time: a server whose clock is off."""

    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)

    return stamp


class SimulatorServer:
    """Serve a simulator on `host`, a free port unless told; `.endpoint`, `.sim` once entered."""

    def __init__(self, config: SimConfig | Simulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = config if isinstance(config, Simulator) else Simulator(config)
        self.host = host
        self.port = port
        self.endpoint = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> SimulatorServer:
        runner = web.AppRunner(
            create_app(self.sim), access_log=None, handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.endpoint = f"http://{self.host}:{self.port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@dataclass(frozen=True)
class ServerHandle:
    """What `run_in_thread` yields: where to send requests and the simulator behind it."""

    endpoint: str
    sim: Simulator


class _ThreadState:
    """Hand-over between the caller and the server thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.handle: ServerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None


@contextmanager
def run_in_thread(config: SimConfig | Simulator | None = None) -> Iterator[ServerHandle]:
    """Serve from a background thread's event loop until the block exits."""
    state = _ThreadState()

    async def serve_until_stopped() -> None:
        state.stop = asyncio.Event()
        state.loop = asyncio.get_running_loop()
        async with SimulatorServer(config) as server:
            state.handle = ServerHandle(server.endpoint, server.sim)
            state.ready.set()
            await state.stop.wait()

    def main() -> None:
        try:
            asyncio.run(serve_until_stopped())
        except BaseException as exc:  # handed to the caller's thread
            state.error = exc
        finally:
            state.ready.set()

    thread = threading.Thread(target=main, name="abstra-simulator", daemon=True)
    thread.start()
    state.ready.wait()
    if state.handle is None:
        thread.join()
        raise RuntimeError("the simulator failed to start") from state.error
    try:
        yield state.handle
    finally:
        assert state.loop is not None and state.stop is not None
        state.loop.call_soon_threadsafe(state.stop.set)
        thread.join(timeout=30)
        if state.error is not None:
            raise RuntimeError("the simulator thread failed") from state.error


def serve(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    print_fn: Callable[..., None] | None = print,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    serve_app(create_app(Simulator(config)), host, port, print_fn=print_fn)


def serve_app(
    app: web.Application, host: str, port: int, *, print_fn: Callable[..., None] | None = print
) -> None:
    """Run any simulator's app until interrupted; shared by every simulated API."""
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=print_fn,
        handler_cancellation=True,
        shutdown_timeout=_SERVE_SHUTDOWN_TIMEOUT,
    )
