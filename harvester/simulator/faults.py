"""Misbehaviour on demand: which fault hits the next request, and what it looks like.

Faults are either random (`fault_rate` over `fault_kinds`) or scripted:
`faults.script(["http_429", "reset_before_headers"])` hits the next two requests,
in order, before any random fault is considered. A scripted fault can be limited
to some actions (`actions=["get_connector_action_logs"]`); it then waits for the
next request of one of those actions, so concurrent traffic to other actions does
not use it up. A fault that cannot apply to the request's action (a `cursor_loop`
on `get_members`) is used up and ignored.

Transport faults happen before the request is authenticated, like a gateway's;
data faults bend a successful reply.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
from aiohttp import web

from .actions import Reply, log_page_body
from .config import FAULT_KINDS, SimConfig

__all__ = [
    "DATA_FAULTS",
    "Faults",
    "TRANSPORT_FAULTS",
    "TokenBucket",
    "bend_reply",
    "too_many_requests",
    "transport_fault",
]

TRANSPORT_FAULTS = frozenset({
    "http_429", "http_429_zero", "http_429_date", "http_500", "http_502", "http_503", "http_504",
    "reset_before_headers", "reset_after_headers", "timeout",
})
DATA_FAULTS = frozenset({"truncated_json", "html_200", "empty_page_with_cursor", "cursor_loop", "total_count_drift"})
NO_FAULT = "none"  # may appear in a script to let one request through


class Faults:
    """The queue of scripted faults plus the random ones; safe to script from any thread."""

    def __init__(self, config: SimConfig) -> None:
        self.rate = config.fault_rate
        self.kinds = list(config.fault_kinds)
        self.rng = random.Random(config.seed * 7919 + 17)
        self._script: deque[tuple[str, frozenset[str] | None]] = deque()
        self._lock = threading.Lock()

    def script(self, kinds: Iterable[str], actions: Iterable[str] | None = None) -> None:
        """Queue faults for the next requests (of `actions`, if given), in order."""
        chosen = frozenset(actions) if actions is not None else None
        kinds = list(kinds)
        for kind in kinds:
            if kind not in FAULT_KINDS and kind != NO_FAULT:
                raise ValueError(f"unknown fault kind {kind!r}: choose from {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._script.extend((kind, chosen) for kind in kinds)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()

    @property
    def pending(self) -> int:
        """Scripted faults not yet used."""
        return len(self._script)

    def pick(self, action: str | None) -> str | None:
        """The fault for a request of `action`, or None."""
        with self._lock:
            if self._script:
                kind, actions = self._script[0]
                if actions is None or action in actions:
                    self._script.popleft()
                    return None if kind == NO_FAULT else kind
        if self.rate > 0 and self.kinds and self.rng.random() < self.rate:
            return self.rng.choice(self.kinds)
        return None


class TokenBucket:
    """`rate` requests a second with bursts of up to `rate` (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 when the request may pass, else the seconds until it could."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _error_json(message: str) -> bytes:
    return orjson.dumps({"status": "error", "message": message})


def too_many_requests(retry_after: str) -> web.Response:
    return web.Response(
        status=429,
        body=_error_json("Too many requests"),
        content_type="application/json",
        headers={"Retry-After": retry_after},
    )


def _html(status: int, title: str) -> web.Response:
    page = f"<html><head><title>{status} {title}</title></head><body><h1>{title}</h1></body></html>"
    return web.Response(status=status, text=page, content_type="text/html")


def _retry_date() -> str:
    ahead = datetime.fromtimestamp(math.ceil(time.time()), UTC) + timedelta(seconds=1)
    return format_datetime(ahead, usegmt=True)


async def transport_fault(kind: str, request: web.Request, hang_seconds: float) -> web.StreamResponse | None:
    """Act out a transport fault. None means "carry on serving" (after a `timeout` hang)."""
    if kind == "http_429":
        return too_many_requests("1")
    if kind == "http_429_zero":
        return too_many_requests("0")
    if kind == "http_429_date":
        return too_many_requests(_retry_date())
    if kind == "http_500":
        return web.Response(status=500, body=_error_json("Internal server error"), content_type="application/json")
    if kind == "http_502":
        return _html(502, "Bad Gateway")
    if kind == "http_503":
        return web.Response(status=503, body=_error_json("Service unavailable"), content_type="application/json")
    if kind == "http_504":
        return _html(504, "Gateway Timeout")
    if kind == "timeout":
        await asyncio.sleep(hang_seconds)
        return None
    transport = request.transport
    if kind == "reset_after_headers":
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'{"status":"succ')
        if transport is not None:
            transport.abort()
        return response
    # reset_before_headers
    if transport is not None:
        transport.abort()
    return web.Response(status=500)  # never reaches the client: the socket is gone


def bend_reply(kind: str, reply: Reply, rng: random.Random) -> tuple[bytes, str] | None:
    """(body, content type) of a data fault applied to a good reply; None if it does not apply."""
    if kind == "truncated_json":
        body = reply.body()
        return body[: len(body) // 2], "application/json"
    if kind == "html_200":
        page = "<!DOCTYPE html><html><body><h1>Something went wrong</h1><p>Please try again.</p></body></html>"
        return page.encode(), "text/html"
    if kind == "empty_page_with_cursor" and reply.is_log_page:
        return log_page_body([], reply.here_cursor), "application/json"
    if kind == "cursor_loop" and reply.is_log_page:
        return log_page_body(reply.entries or [], reply.here_cursor), "application/json"
    if kind == "total_count_drift" and isinstance(reply.data, dict) and "totalCount" in reply.data:
        drift = rng.choice([-3, -2, -1, 1, 2, 3])
        data = {**reply.data, "totalCount": max(0, reply.data["totalCount"] + drift)}
        return orjson.dumps({"status": "success", "data": data}), "application/json"
    return None
