"""A small hostile Abstra API on loopback, for the tests that play the attacker.

The simulator models a well-meaning API with honest faults; this server answers
whatever a test scripts, per action, so a test can send a redirect, a gzip bomb, a
reply of the wrong shape or a slow drip. Every request is recorded (action and
whether it carried `Api-Authorization`), so a test can prove where the token went.

    with hostile_server({"get_auth_attempt_logs": reply_json(page([...]))}) as server:
        ... settings pointing at server.endpoint ...

Actions not scripted answer like an empty organization: `get_organization` with no
folders, every log action with one empty last page.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "Handler",
    "HostileServer",
    "Seen",
    "drip",
    "entry",
    "hostile_server",
    "page",
    "reply_bytes",
    "reply_json",
    "redirect",
]

TOKEN = "hostile-test-token-0123456789"
Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    path: str
    method: str
    action: str | None
    authorization: str | None


@dataclass
class HostileServer:
    endpoint: str
    seen: list[Seen] = field(default_factory=list)

    def actions(self) -> list[str | None]:
        return [s.action for s in self.seen]


def entry(n: int, **fields: Any) -> dict[str, Any]:
    """A good log entry inside January 2025."""
    return {"id": f"e{n}", "createdAt": f"2025-01-01T{n % 24:02d}:00:00.000Z", "event": "createProject", **fields}


def page(entries: list[Any], next_cursor: Any = None) -> dict[str, Any]:
    return {"status": "success", "data": {"entries": entries, "nextCursor": next_cursor}}


def reply_json(body: Any, status: int = 200) -> Handler:
    return reply_bytes(orjson.dumps(body), status=status)


def reply_bytes(body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Handler:
    async def handler(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers={"Content-Type": "application/json", **(headers or {})})

    return handler


def redirect(status: int, location: str) -> Handler:
    async def handler(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


def drip(*, every: float, chunk: bytes = b" ", total: int = 10_000) -> Handler:
    """Headers at once, then `chunk` every `every` seconds: the slow server of item 15."""

    async def handler(request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        reply = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await reply.prepare(request)
        for _ in range(total):
            await reply.write(chunk)
            await asyncio.sleep(every)
        return reply

    return handler


def _default(action: str) -> dict[str, Any]:
    if action == "get_organization":
        return {"status": "success", "data": {"folders": []}}
    if action == "get_members":
        return {"status": "success", "data": []}
    return page([])


def _app(server: HostileServer, handlers: Mapping[str, Handler]) -> web.Application:
    async def any_request(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        action = body.get("actionName") if isinstance(body, dict) else None
        server.seen.append(Seen(request.path, request.method, action, request.headers.get("Api-Authorization")))
        params = body.get("parameters") or {} if isinstance(body, dict) else {}
        handler = handlers.get(action or "") or handlers.get("*")
        if handler is None:
            return web.json_response(_default(action or ""))
        return await handler(request, params)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", any_request)
    return app


@contextmanager
def hostile_server(handlers: Mapping[str, Handler], host: str = "127.0.0.1") -> Iterator[HostileServer]:
    """Serve `handlers` (action name → handler; "*" for any) from a background thread."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        runner = web.AppRunner(_app(box["server"], handlers), shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        box["server"].endpoint = f"http://{host}:{port}"
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        try:
            await box["stop"].wait()
        finally:
            await runner.cleanup()

    def main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc
        finally:
            ready.set()

    box["server"] = HostileServer("")
    thread = threading.Thread(target=main, name="hostile-server", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        raise RuntimeError("the hostile server failed to start") from box["error"]
    try:
        yield box["server"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=30)
