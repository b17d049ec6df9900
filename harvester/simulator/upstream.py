"""Fake upstream services behind the simulator's HTTP connections (`custom` action).

The `custom` action calls whatever URL it is given; the simulator never makes a
real request. It answers from these services instead, on hostnames under `.test`
(a TLD reserved never to resolve), one per paging kind plus two with time windows:

    service    host and path                             paging                      records at
    cursor     https://api.cursorhub.test/v1/audit-log   after / meta.next_cursor    data.items
    page       https://pages.ticketly.test/api/tickets   page (from 1), per_page     tickets
    offset     https://api.offsetly.test/items           offset, limit; total        results
    next_url   https://api.linkwalk.test/events          links.next (a full URL)     events
    none       https://api.plainlist.test/users          one reply, records without id   (the reply)
    window     https://logs.windowed.test/v2/logs        since/until ISO, cursor / next  logs
    epoch      https://api.epochs.test/activity          start/end epoch s, page/count   activity

plus `https://echo.test/<anything>`, which answers with the request it received
(method, url, headers, body) so tests can see how `parameters` were read, and
`https://status.test/<code>`, which answers with that HTTP status.

Windows are half-open, `[since, until)`. Data is deterministic per seed; `truth`
is the ground truth a harvest of each service must land. Upstream errors can be
scripted (`script_errors([429, 500])` hits the next requests) or random
(`SimConfig.upstream_error_rate`); either way the action reports them as the seed's
`{"status": "error", "message": ...}` with the status visible in the message.
"""

from __future__ import annotations

import base64
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..sources.custom.request import (
    HttpRequest as Outgoing,  # the container only; the reading is custom.py's
)
from ..timeutil import format_wire, parse_entry_time
from .config import SimConfig
from .rand import EPOCH, derive_rng, hex_id

__all__ = ["SERVICES", "Outgoing", "Upstream", "UpstreamReply"]

SERVICES: dict[str, str] = {
    "cursor": "https://api.cursorhub.test/v1/audit-log",
    "page": "https://pages.ticketly.test/api/tickets",
    "offset": "https://api.offsetly.test/items",
    "next_url": "https://api.linkwalk.test/events",
    "none": "https://api.plainlist.test/users",
    "window": "https://logs.windowed.test/v2/logs",
    "epoch": "https://api.epochs.test/activity",
}
_SIZES = {"cursor": 137, "page": 83, "offset": 101, "next_url": 64, "none": 12}
_WINDOW_PER_DAY = {"window": 4, "epoch": 3}
_MAX_WINDOW = timedelta(days=31)


@dataclass(frozen=True)
class UpstreamReply:
    status: int
    data: Any


class _BadRequest(Exception):
    """The fake service refuses the request with a 400 and this message."""


Query = dict[str, list[str]]


class Upstream:
    """Every fake service, its ground truth, and the requests it received."""

    def __init__(self, config: SimConfig) -> None:
        self.start, self.end = config.history_start, config.end
        self.error_rate = config.upstream_error_rate
        self._rng = random.Random(config.seed * 6007 + 5)
        self._records = {name: _generate(config.seed, name, self.start, self.end) for name in SERVICES}
        self._scripted: deque[int] = deque()
        self._lock = threading.Lock()
        self.received: deque[Outgoing] = deque(maxlen=1000)  # the latest requests, for tests
        self._routes: dict[tuple[str, str], Callable[[Query, Outgoing], Any]] = {
            _host_path(SERVICES["cursor"]): self._cursor,
            _host_path(SERVICES["page"]): self._page,
            _host_path(SERVICES["offset"]): self._offset,
            _host_path(SERVICES["next_url"]): self._next_url,
            _host_path(SERVICES["none"]): lambda q, r: self._records["none"],
            _host_path(SERVICES["window"]): self._window,
            _host_path(SERVICES["epoch"]): self._epoch,
        }

    def truth(self, service: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """The records of `service` (those timed in `[start, end)` when given)."""
        records = self._records[service]
        if start is None and end is None:
            return list(records)
        lo, hi = start or self.start, end or self.end
        return [r for r in records if lo <= _time_of(service, r) < hi]

    def script_errors(self, statuses: Iterable[int]) -> None:
        """The next requests (any service) answer these HTTP statuses, in order."""
        with self._lock:
            self._scripted.extend(statuses)

    def handle(self, request: Outgoing) -> UpstreamReply:
        """Answer one upstream request; unknown hosts raise LookupError (no such host)."""
        self.received.append(request)
        parts = urlsplit(request.url)
        host = (parts.hostname or "").rstrip(".")
        status = self._injected()
        if status is not None:
            return UpstreamReply(status, {"message": _STATUS_TEXT.get(status, "error"), "status": status})
        if host == "echo.test":
            return UpstreamReply(200, {"method": request.method, "url": request.url,
                                       "headers": request.headers, "body": request.body})
        if host == "status.test":
            code = parts.path.strip("/")
            code_int = int(code) if code.isdigit() and 100 <= int(code) <= 599 else 400
            return UpstreamReply(code_int, {"message": f"status {code_int}"})
        route = self._routes.get((host, parts.path.rstrip("/") or "/"))
        if route is None:
            if any(h == host for h, _ in self._routes):
                return UpstreamReply(404, {"message": f"Not Found: {parts.path[:100]}"})
            raise LookupError(host)
        if request.method != "GET":
            return UpstreamReply(405, {"message": f"Method {request.method} not allowed"})
        try:
            return UpstreamReply(200, route(parse_qs(parts.query, keep_blank_values=True), request))
        except _BadRequest as exc:
            return UpstreamReply(400, {"message": str(exc)})

    def _injected(self) -> int | None:
        with self._lock:
            if self._scripted:
                return self._scripted.popleft()
            if self.error_rate and self._rng.random() < self.error_rate:
                return self._rng.choice((429, 500, 502, 503))
        return None

    # --- the services -----------------------------------------------------------

    def _cursor(self, query: Query, request: Outgoing) -> Any:
        records = self._records["cursor"]
        start = _decode_cursor(_one(query, "after")) if _one(query, "after") else 0
        limit = _int(query, "limit", 20, 1, 100)
        end = start + limit
        more = end < len(records)
        return {"data": {"items": records[start:end]}, "meta": {"next_cursor": _encode_cursor(end) if more else None}}

    def _page(self, query: Query, request: Outgoing) -> Any:
        page = _int(query, "page", 1, 1, 10**9)
        per_page = _int(query, "per_page", 25, 1, 50)
        lo = (page - 1) * per_page
        return {"tickets": self._records["page"][lo : lo + per_page], "page": page}

    def _offset(self, query: Query, request: Outgoing) -> Any:
        offset = _int(query, "offset", 0, 0, 10**9)
        limit = _int(query, "limit", 20, 1, 50)
        records = self._records["offset"]
        return {"results": records[offset : offset + limit], "total": len(records)}

    def _next_url(self, query: Query, request: Outgoing) -> Any:
        records = self._records["next_url"]
        token = _one(query, "page_token")
        start = _decode_cursor(token) if token else 0
        limit = _int(query, "limit", 10, 1, 25)
        end = start + limit
        following = f"{SERVICES['next_url']}?page_token={_encode_cursor(end)}&limit={limit}" if end < len(records) else None
        return {"events": records[start:end], "links": {"next": following}}

    def _window(self, query: Query, request: Outgoing) -> Any:
        lo, hi = (_iso(query, "since"), _iso(query, "until"))
        found = self._windowed("window", lo, hi)
        cursor = _one(query, "cursor")
        start = _decode_cursor(cursor) if cursor else 0
        limit = _int(query, "limit", 50, 1, 200)
        end = start + limit
        return {"logs": found[start:end], "next": _encode_cursor(end) if end < len(found) else None}

    def _epoch(self, query: Query, request: Outgoing) -> Any:
        lo, hi = (_epoch_s(query, "start"), _epoch_s(query, "end"))
        found = self._windowed("epoch", lo, hi)
        page = _int(query, "page", 1, 1, 10**9)
        count = _int(query, "count", 20, 1, 100)
        return {"activity": found[(page - 1) * count : page * count]}

    def _windowed(self, service: str, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        if lo > hi:
            raise _BadRequest("the window's start is after its end")
        if hi - lo > _MAX_WINDOW:
            raise _BadRequest("the window cannot exceed 31 days")
        return self.truth(service, lo, hi)


_STATUS_TEXT = {429: "API rate limit exceeded", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}


def _host_path(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.path


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int(query: Query, name: str, default: int, lo: int, hi: int) -> int:
    text = _one(query, name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise _BadRequest(f"{name} must be an integer from {lo} to {hi}")
    return int(text)


def _iso(query: Query, name: str) -> datetime:
    text = _one(query, name)
    if not text:
        raise _BadRequest(f"{name} is required")
    try:
        return parse_entry_time(text)
    except ValueError:
        raise _BadRequest(f"{name} must be an ISO-8601 time with a zone") from None


def _epoch_s(query: Query, name: str) -> datetime:
    text = _one(query, name)
    if not text or not text.isdigit() or len(text) > 11:
        raise _BadRequest(f"{name} must be epoch seconds")
    return EPOCH + timedelta(seconds=int(text))


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{index}".encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        raise _BadRequest("invalid cursor") from None
    if not text.startswith("pos:") or not text[4:].isdigit():
        raise _BadRequest("invalid cursor")
    return int(text[4:])


# --- generated data -----------------------------------------------------------


def _time_of(service: str, record: dict[str, Any]) -> datetime:
    """Each service writes its record time differently; this reads it back."""
    if service == "page":
        return EPOCH + timedelta(seconds=record["opened_at"])
    if service in ("offset", "epoch"):
        return EPOCH + timedelta(milliseconds=record["time_ms" if service == "epoch" else "ts"])
    if service == "none":
        return datetime.fromisoformat(record["joined"]).astimezone(UTC)
    return datetime.fromisoformat(record["created_at" if service != "next_url" else "at"]).astimezone(UTC)


def _instants(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` millisecond instants in `[start, end)`, newest first."""
    span_ms = int((end - start).total_seconds() * 1000)
    return sorted((start + timedelta(milliseconds=rng.randrange(span_ms)) for _ in range(count)), reverse=True)


def _generate(seed: int, service: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rng = derive_rng(seed, "upstream", service)
    days = max(1, (end - start).days)
    count = _SIZES.get(service) or _WINDOW_PER_DAY[service] * days
    return [_record(service, rng, i, t) for i, t in enumerate(_instants(rng, start, end, count))]


_ACTIONS = ("repo.create", "repo.delete", "team.add_member", "org.update", "hook.create")


def _record(service: str, rng: random.Random, index: int, when: datetime) -> dict[str, Any]:
    ms = (when - EPOCH) // timedelta(milliseconds=1)
    if service == "cursor":
        return {"id": f"evt_{hex_id(rng)}", "action": rng.choice(_ACTIONS),
                "actor": {"login": f"user{rng.randrange(20)}"}, "created_at": format_wire(when)}
    if service == "page":
        return {"ticket_id": 10_000 + index, "subject": f"Ticket {index}", "opened_at": ms // 1000}
    if service == "offset":
        return {"uid": hex_id(rng), "kind": rng.choice(("a", "b", "c")), "ts": ms}
    if service == "next_url":
        return {"id": f"ev-{index:05d}", "type": rng.choice(_ACTIONS), "at": when.isoformat(timespec="milliseconds")}
    if service == "none":
        return {"email": f"person{index}@plainlist.test", "role": rng.choice(("admin", "member")),
                "joined": format_wire(when)}
    if service == "window":
        return {"log_id": hex_id(rng), "level": rng.choice(("info", "warn", "error")), "created_at": format_wire(when)}
    return {"activity_id": f"act{hex_id(rng)}", "verb": rng.choice(_ACTIONS), "time_ms": ms}
