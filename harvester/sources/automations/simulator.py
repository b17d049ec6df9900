"""A simulated automations API (seed 001): the read endpoints, and a 405 for the rest.

    AutomationsSimulator(config)    platform + faults + counters; mutate(), truth()
    create_app(sim)                 the aiohttp application
    AutomationsServer(config)       async context manager on 127.0.0.1, a free port
    serve(config, host, port)       blocking, for `harvester simulate --source automations`

Every route of the seed is known by name (ROUTES). GETs the harvester needs are
served; every other method is refused with 405 and counted (`stats["mutating"]`,
`stats["mutating.<route>"]`), so a test can prove the harvester never tried to change
the platform. Other GETs (query, visualization, code connections) answer 501.

Request flow, as in the Abstra simulator: latency, rate limit, transport fault, then
route, auth (`Authorization: Bearer <token>`), the handler; a data fault may bend a
successful reply last. Errors are AIP/google.rpc shaped:
`{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`. Replies never
echo the token.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import threading
from collections.abc import Callable
from types import TracebackType

import orjson
from aiohttp import web

from ...simulator.config import SimConfig
from ...simulator.faults import (
    DATA_FAULTS,
    TRANSPORT_FAULTS,
    Faults,
    TokenBucket,
    too_many_requests,
    transport_fault,
)
from ...simulator.server import serve_app
from .sim_config import AutomationsSimConfig
from .sim_data import Mutation, Platform
from .sim_handlers import HANDLERS, ApiError, Reply, Request
from .sim_truth import Ledger, Truth, current_rows

__all__ = [
    "PREFIX",
    "ROUTES",
    "AutomationsServer",
    "AutomationsSimulator",
    "create_app",
    "serve",
]

PREFIX = "/api/v1/organizations/{organization_id}/workspaces/{workspace_id}/automations"
# (method, path after PREFIX, route name): every operation of seed 001
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "", "list_automations"),
    ("POST", "", "create_automation"),
    ("DELETE", ":deleteConnection", "delete_workspace_connection"),
    ("POST", ":countConnectionUsage", "count_connection_usage"),
    ("POST", ":traceConnectionUsage", "trace_connection_usage"),
    ("GET", "/{automation_id}", "get_automation"),
    ("PATCH", "/{automation_id}", "update_automation"),
    ("DELETE", "/{automation_id}", "delete_automation"),
    ("GET", "/{automation_id}:query", "query_automation"),
    ("POST", "/{automation_id}:invoke", "invoke_automation"),
    ("GET", "/{automation_id}:listDefaultInputsHistory", "list_default_inputs_history"),
    ("GET", "/{automation_id}:extractCodeConnections", "extract_code_connections"),
    ("POST", "/{automation_id}:addConnections", "add_automation_connections"),
    ("POST", "/{automation_id}:removeConnections", "remove_automation_connections"),
    ("POST", "/{automation_id}:switchConnections", "switch_automation_connections"),
    ("POST", "/{automation_id}:upgradeConnections", "upgrade_automation_connections"),
    ("POST", "/{automation_id}:enableAutomationSchedule", "enable_automation_schedule"),
    ("POST", "/{automation_id}:disableAutomationSchedule", "disable_automation_schedule"),
    ("GET", "/{automation_id}/revisions", "list_automation_revisions"),
    ("GET", "/{automation_id}/revisions/{revision_id}", "get_automation_revision"),
    ("GET", "/{automation_id}/schedule", "get_automation_schedule"),
    ("POST", "/{automation_id}/schedule", "create_automation_schedule"),
    ("PATCH", "/{automation_id}/schedule", "update_automation_schedule"),
    ("DELETE", "/{automation_id}/schedule", "delete_automation_schedule"),
    ("GET", "/{automation_id}/triggers", "list_automation_triggers"),
    ("POST", "/{automation_id}/triggers", "create_automation_trigger"),
    ("GET", "/{automation_id}/visualization", "get_automation_visualization"),
)
_SHUTDOWN_TIMEOUT = 0.25  # in-process: tests end promptly even with a hung `timeout` fault


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", PREFIX + template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/:]+)" for i, p in enumerate(parts))
    return re.compile(regex + "$")


_MATCHERS = tuple((method, _pattern(template), name) for method, template, name in ROUTES)


def _resolve(method: str, path: str) -> tuple[str | None, dict[str, str], bool]:
    """(route name or None, path ids, whether the path names any route)."""
    known = False
    for route_method, pattern, name in _MATCHERS:
        match = pattern.match(path)
        if match:
            known = True
            if route_method == method:
                return name, match.groupdict(), True
    return None, {}, known


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps({"error": {"code": status, "message": message, "status": code}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


class AutomationsSimulator:
    """Config, platform, faults and counters of one simulated automations API.

    `stats` counts `requests`, `ok`, `http_<status>` for errors, `rate_limited`,
    `faults`, `faults.<kind>`, `faults_ignored`, `route.<name>` for every request
    that named a route, and `mutating` / `mutating.<name>` for every request with a
    method other than GET (all refused). `calls[(route, automation_id)]` counts
    requests per automation (automation_id None for workspace-level routes).
    """

    def __init__(self, config: AutomationsSimConfig | None = None) -> None:
        self.config = config if config is not None else AutomationsSimConfig()
        self.platform = Platform(self.config)
        c = self.config
        self.faults = Faults(SimConfig(seed=c.seed, fault_rate=c.fault_rate, fault_kinds=c.fault_kinds))
        self.bucket = TokenBucket(c.rate_limit_rps) if c.rate_limit_rps > 0 else None
        self.stats: dict[str, int] = {}
        self.calls: dict[tuple[str, str | None], int] = {}
        self._ledger = Ledger()
        self._lock = threading.Lock()  # mutate/truth from a test thread vs the serving loop

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def calls_for(self, route: str) -> dict[str, int]:
        """automation id → requests of `route` for it (e.g. "list_automation_triggers")."""
        return {aid: n for (name, aid), n in self.calls.items() if name == route and aid is not None}

    @property
    def mutating_calls(self) -> int:
        return self.stats.get("mutating", 0)

    def reset_counters(self) -> None:
        self.stats.clear()
        self.calls.clear()

    def mutate(
        self, seed: int | None = None, *, changed: int = 3, deleted: int = 1, purged: int = 1, created: int = 1
    ) -> Mutation:
        """Change the platform (see Platform.mutate); remembers the state before, for truth()."""
        with self._lock:
            self._ledger.remember(current_rows(self.platform))
            return self.platform.mutate(seed, changed=changed, deleted=deleted, purged=purged, created=created)

    def truth(self) -> Truth:
        """Table name → key → typed row a correct harvester lands (see sim_truth)."""
        with self._lock:
            return self._ledger.truth(current_rows(self.platform))

    def handle(self, route: str, request: Request) -> Reply:
        with self._lock:
            return HANDLERS[route](self.platform, request)


SIMULATOR_KEY = web.AppKey("automations_simulator", AutomationsSimulator)


def _bend(kind: str, reply: Reply) -> tuple[bytes, str] | None:
    """(body, content type) of a data fault on a good reply; None when it does not apply.
    The paging faults are AIP's: an empty page that points at itself (legal: "may
    return fewer"), and a page whose next_page_token is the one just used (a loop)."""
    if kind == "truncated_json":
        body = reply.body()
        return body[: len(body) // 2], "application/json"
    if kind == "html_200":
        return b"<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>", "text/html"
    if reply.again is None:
        return None
    if kind == "empty_page_with_cursor":
        return orjson.dumps({"next_page_token": reply.again}), "application/json"
    if kind == "cursor_loop":
        return orjson.dumps({**reply.data, "next_page_token": reply.again}), "application/json"
    return None


async def _gate(sim: AutomationsSimulator, request: web.Request, route: str | None) -> web.StreamResponse | str | None:
    """Latency, rate limit, transport fault: a response to send now, else the fault
    (a data fault for later) or None."""
    config = sim.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    if sim.bucket is not None:
        wait = sim.bucket.take()
        if wait > 0:
            sim.count("rate_limited")
            return too_many_requests(str(max(1, math.ceil(wait))))
    fault = sim.faults.pick(route)
    if fault in TRANSPORT_FAULTS:
        sim.count("faults")
        sim.count(f"faults.{fault}")
        return await transport_fault(fault, request, config.hang_seconds)  # None after a `timeout` hang
    return fault if fault in DATA_FAULTS else None


def _serve_read(
    sim: AutomationsSimulator, route: str, ids: dict[str, str], request: web.Request
) -> web.Response | Reply:
    key = (route, ids.get("automation_id"))
    sim.calls[key] = sim.calls.get(key, 0) + 1
    if route not in HANDLERS:
        return _error(501, "UNIMPLEMENTED", f"{route} is not simulated")
    try:
        return sim.handle(route, Request(ids, request.query))
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message)


def create_app(sim: AutomationsSimulator) -> web.Application:
    """An aiohttp application serving `sim` under PREFIX."""
    expected_auth = f"Bearer {sim.config.token}".encode()

    async def route_request(request: web.Request) -> web.StreamResponse:
        sim.count("requests")
        method = "GET" if request.method == "HEAD" else request.method
        route, ids, known = _resolve(method, request.path)
        if route is not None:
            sim.count(f"route.{route}")
        if method != "GET":
            sim.count("mutating")
            sim.count(f"mutating.{route or 'unknown'}")
        gated = await _gate(sim, request, route)
        if isinstance(gated, web.StreamResponse):
            return gated
        response = _refusal(request, method, route, known, expected_auth)
        if response is None:
            assert route is not None
            response = _serve_read(sim, route, ids, request)
        if isinstance(response, web.Response):
            sim.count(f"http_{response.status}")
            return response
        sim.count("ok")
        bent = _bend(gated, response) if gated is not None else None
        if gated is not None:
            sim.count("faults" if bent is not None else "faults_ignored")
            if bent is not None:
                sim.count(f"faults.{gated}")
                return web.Response(body=bent[0], content_type=bent[1])
        return web.Response(body=response.body(), content_type="application/json")

    app = web.Application()
    app[SIMULATOR_KEY] = sim
    app.router.add_route("*", "/{tail:.*}", route_request)
    return app


def _refusal(request: web.Request, method: str, route: str | None, known: bool, auth: bytes) -> web.Response | None:
    """The error for a request that is not a served read, or None to serve it."""
    if method != "GET":
        allowed = "GET" if known else ""
        return _error(405, "UNIMPLEMENTED", "the automations simulator is read-only: only GET is served",
                      {"Allow": allowed} if allowed else None)
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), auth):
        return _error(401, "UNAUTHENTICATED", "request lacks a valid Personal Access Token (Authorization: Bearer)",
                      {"WWW-Authenticate": "Bearer"})
    if route is None and known:
        return _error(405, "UNIMPLEMENTED", f"{request.path[:200]!r} is not read with GET")
    if route is None:
        return _error(404, "NOT_FOUND", f"no route {request.path[:200]!r}")
    return None


class AutomationsServer:
    """Serve a simulator on `host`, a free port unless told; `.endpoint`, `.sim` once entered."""

    def __init__(
        self, config: AutomationsSimConfig | AutomationsSimulator | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.sim = config if isinstance(config, AutomationsSimulator) else AutomationsSimulator(config)
        self.host, self.port = host, port
        self.endpoint = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> AutomationsServer:
        runner = web.AppRunner(create_app(self.sim), access_log=None, handler_cancellation=True,
                               shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
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


def serve(
    config: AutomationsSimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8766,
    *,
    print_fn: Callable[..., None] | None = print,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    serve_app(create_app(AutomationsSimulator(config)), host, port, print_fn=print_fn)
