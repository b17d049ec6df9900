"""A simulated flow-monitoring API (seed 003) over HTTP, plus the webhook that receives alerts.

Routes:
    GET  /icenter/executions?start=&end=&groupby=   execution counts, both ends inclusive
    GET  /logs?filter[tenant]=T[&filter[flowId]=][&filter[stepId]=][&showErrors=true]
    POST /webhooks/{flowId}                          records each JSON document (no auth)

The two read routes share the Abstra simulator's misbehaviour (latency, a rate limit
answered with 429 + Retry-After, scripted or random transport faults, truncated or
HTML bodies) and then check `Authorization: Bearer <token>`. The webhook misbehaves
only when told (`webhooks.fail_next(n)`), so alert tests control exactly what fails.

`FlowsServer(config)` serves on 127.0.0.1 and a free port for tests; `serve` blocks,
for `harvester simulate --source flows`.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import threading
from calendar import monthrange
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from harvester.simulator.config import SimConfig
from harvester.simulator.faults import (
    TRANSPORT_FAULTS,
    Faults,
    TokenBucket,
    too_many_requests,
    transport_fault,
)

from ...simulator.server import serve_app
from .simdata import (
    GROUPINGS,
    FlowsSimConfig,
    FlowsTruth,
    FlowsWorld,
    render_counts,
    render_logs,
)

__all__ = [
    "EXECUTIONS_ROUTE",
    "LOGS_ROUTE",
    "WEBHOOK_ROUTE",
    "FlowsServer",
    "FlowsSimulator",
    "Received",
    "Webhooks",
    "create_app",
    "serve",
]

EXECUTIONS_ROUTE = "/icenter/executions"
LOGS_ROUTE = "/logs"
WEBHOOK_ROUTE = "/webhooks/{flowId}"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_BODY = 64 * 1024 * 1024  # an alert carries up to 100 example rows per category
_SHUTDOWN_TIMEOUT = 0.25

Handler = Callable[[web.Request], Awaitable[tuple[int, Any]]]  # (status, JSON data) of a read
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(ValueError):
    """A query the API refuses (400), with the message it says."""


@dataclass(frozen=True)
class Received:
    """One document the webhook accepted."""

    flow_id: str
    document: Any


class Webhooks:
    """What `POST /webhooks/{flowId}` received, and how many posts it should fail next.

    Locked, because tests read it from another thread than the server's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._fail: list[int] = []

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` posts with `status`, recording nothing."""
        with self._lock:
            self._fail.extend([status] * n)

    def received(self, flow_id: str | None = None) -> list[Any]:
        """The documents accepted so far (for one flow, if given), in arrival order."""
        with self._lock:
            return [r.document for r in self._received if flow_id is None or r.flow_id == flow_id]

    def take(self, flow_id: str, document: Any) -> int | None:
        """Record a post, or return the status to fail it with."""
        with self._lock:
            if self._fail:
                return self._fail.pop(0)
            self._received.append(Received(flow_id, document))
            return None


class FlowsSimulator:
    """Config, world, faults, webhook receiver and request counters of one simulated API.

    `stats` counts `requests`, `route.<executions|logs|webhook>`, `ok`, `http_<status>`
    of error replies, `rate_limited`, `faults`, `faults.<kind>`, `faults_ignored`.
    """

    def __init__(self, config: FlowsSimConfig | None = None) -> None:
        self.config = config if config is not None else FlowsSimConfig()
        self.world = FlowsWorld(self.config)
        self.faults = Faults(SimConfig(
            seed=self.config.seed, fault_rate=self.config.fault_rate, fault_kinds=list(self.config.fault_kinds)
        ))
        self.webhooks = Webhooks()
        self.stats: dict[str, int] = {}
        self.bucket = TokenBucket(self.config.rate_limit_rps) if self.config.rate_limit_rps > 0 else None

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def truth(self, days: list[date], group_by: tuple[str, ...] = GROUPINGS) -> FlowsTruth:
        """Expected `flow_execution_counts` rows for `days` and `flow_logs` rows (all tenants)."""
        return self.world.truth(days, group_by)


# --- replies --------------------------------------------------------------------


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def _month_ago(day: date) -> date:
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _day(query: Any, name: str, default: date) -> date:
    text = query.get(name)
    if text is None:
        return default
    try:
        if not _DAY.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"{name} {text[:40]!r} is not a date: use YYYY-MM-DD") from None


def _executions(sim: FlowsSimulator) -> Handler:
    async def handle(request: web.Request) -> tuple[int, Any]:
        today = sim.config.today
        start = _day(request.query, "start", _month_ago(today))
        end = _day(request.query, "end", today)
        group_by = request.query.get("groupby", "user").strip()  # the seed spells it ' component'
        if group_by not in GROUPINGS:
            raise _BadRequest(f"groupby {group_by[:40]!r} is not supported: use user, flow or component")
        if start > end:
            raise _BadRequest("start is after end")
        return 200, render_counts(sim.world.counts(start, end, group_by), group_by, sim.config.counts_shape)

    return handle


def _logs(sim: FlowsSimulator) -> Handler:
    async def handle(request: web.Request) -> tuple[int, Any]:
        query = request.query
        tenant = query.get("filter[tenant]")
        if not tenant:
            raise _BadRequest("filter[tenant] is required")
        flow, step = query.get("filter[flowId]"), query.get("filter[stepId]")
        errors_only = query.get("showErrors", "").lower() == "true"
        entries = [
            e for e in sim.world.logs(tenant)
            if (flow is None or e.flow_id == flow) and (step is None or e.step_id == step)
            and (e.is_error or not errors_only)
        ]
        return 200, render_logs(entries, sim.config.logs_shape)

    return handle


# --- the guarded read routes ----------------------------------------------------


def _bend(kind: str, body: bytes) -> tuple[bytes, str] | None:
    """A data fault applied to a good reply's body; None when it does not apply."""
    if kind == "truncated_json":
        return body[: len(body) // 2], "application/json"
    if kind == "html_200":
        return b"<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>", "text/html"
    return None


async def _misbehave(
    sim: FlowsSimulator, request: web.Request, route: str
) -> tuple[web.StreamResponse | None, str | None]:
    """Latency, rate limit and transport faults: a response that ends the request, and
    the data fault (if any) to apply to a good reply."""
    config = sim.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    if sim.bucket is not None:
        wait = sim.bucket.take()
        if wait > 0:
            sim.count("rate_limited")
            return too_many_requests(str(max(1, math.ceil(wait)))), None
    fault = sim.faults.pick(route)
    if fault in TRANSPORT_FAULTS:
        sim.count("faults")
        sim.count(f"faults.{fault}")
        return await transport_fault(fault, request, config.hang_seconds), None
    return None, fault


def _guarded(sim: FlowsSimulator, route: str, handler: Handler) -> Route:
    expected = f"Bearer {sim.config.token}".encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        sim.count("requests")
        sim.count(f"route.{route}")
        response, fault = await _misbehave(sim, request, route)
        if response is not None:
            return response
        if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
            sim.count("http_401")
            return _json(401, {"message": "Unauthorized: send Authorization: Bearer <token>"})
        try:
            status, data = await handler(request)
        except _BadRequest as exc:
            sim.count("http_400")
            return _json(400, {"message": str(exc)})
        sim.count("ok")
        body = orjson.dumps(data)
        bent = _bend(fault, body) if fault is not None else None
        if bent is not None:
            sim.count("faults")
            sim.count(f"faults.{fault}")
            return web.Response(body=bent[0], content_type=bent[1])
        if fault is not None:
            sim.count("faults_ignored")
        return web.Response(status=status, body=body, content_type="application/json")

    return handle


def _webhook(sim: FlowsSimulator) -> Route:
    async def handle(request: web.Request) -> web.StreamResponse:
        sim.count("requests")
        sim.count("route.webhook")
        try:
            document = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            sim.count("http_400")
            return _json(400, {"message": "the body is not JSON"})
        failed = sim.webhooks.take(request.match_info["flowId"], document)
        if failed is not None:
            sim.count(f"http_{failed}")
            return _json(failed, {"message": "webhook failed on purpose"})
        sim.count("ok")
        return _json(200, {"status": "received"})

    return handle


def create_app(sim: FlowsSimulator) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_get(EXECUTIONS_ROUTE, _guarded(sim, "executions", _executions(sim)))
    app.router.add_get(LOGS_ROUTE, _guarded(sim, "logs", _logs(sim)))
    app.router.add_post(WEBHOOK_ROUTE, _webhook(sim))
    return app


# --- running it -----------------------------------------------------------------


class FlowsServer:
    """Serve a flows simulator on `host`, a free port unless told; `.endpoint`, `.sim` once entered.

    Built on aiohttp's own loopback server (`TestServer`), which already does the
    runner, site and free-port dance.
    """

    def __init__(
        self, config: FlowsSimConfig | FlowsSimulator | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.sim = config if isinstance(config, FlowsSimulator) else FlowsSimulator(config)
        self._server = TestServer(create_app(self.sim), host=host, port=port)
        self.endpoint = ""

    @property
    def port(self) -> int:
        return self._server.port or 0

    async def __aenter__(self) -> FlowsServer:
        await self._server.start_server(access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        self.endpoint = str(self._server.make_url("")).rstrip("/")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.close()


def serve(
    config: FlowsSimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8766,
    *,
    print_fn: Callable[..., None] | None = print,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    serve_app(create_app(FlowsSimulator(config)), host, port, print_fn=print_fn)
