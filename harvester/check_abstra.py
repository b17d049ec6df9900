"""`harvester check` for `[abstra]`: endpoint, token, clock, the connection, its actions,
the window the harvest asks for, and each `[[custom]]` stream's connection.

The connection and its actions are read from the SDK's read-only discovery endpoints
(`GET {endpoint}/cli/connectors/...`, see API_NOTES.md). The connector has changed
shape before (`get_action_logs` became `get_organization_action_logs`), so a missing
action is reported with the offered action it was probably renamed to.
"""

from __future__ import annotations

import difflib
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import orjson

from .check import Check, Prober, reach
from .config import TOKEN_ENV, Settings
from .errors import ExitCode, HarvestError
from .retry import RetryPolicy
from .sources.abstra.client import MUTATING_ACTIONS, AbstraClient
from .sources.abstra.models import LogQuery
from .sources.abstra.streams import ALL_STREAMS, LOG_STREAM_ACTIONS, Scope
from .sources.registry import build_sources, resolve_streams
from .timeutil import utc_now

__all__ = ["EXPECTED_ACTIONS", "MAX_SKEW", "check_abstra"]

# the 16 actions of seed 000: what every stream reads, plus the two that change members
EXPECTED_ACTIONS: tuple[str, ...] = (*dict.fromkeys(s.action for s in ALL_STREAMS.values()), *sorted(MUTATING_ACTIONS))
# names earlier versions of the connector used (API_NOTES: two public versions of its docs)
_FORMER_NAMES = {
    "get_organization_action_logs": ("get_action_logs", "get_audit_logs"),
    "get_project_action_logs": ("get_action_logs", "get_audit_logs"),
}
MAX_SKEW = timedelta(minutes=5)  # windows and lookback are computed from this machine's clock
_CLI = "/cli/connectors"
_PAGE_SIZE, _MAX_PAGES = 100, 20


def _path(*segments: str) -> str:
    return _CLI + "".join("/" + quote(s, safe="") for s in segments)


async def check_abstra(settings: Settings) -> list[Check]:
    """Every `[abstra]` line, stopping where the next would only repeat a failure."""
    assert settings.abstra is not None
    async with Prober("abstra", settings.abstra, TOKEN_ENV, header="Api-Authorization") as prober:
        reached = await reach(prober, _path("connections"))
        checks = list(reached.checks)
        if reached.response is not None:
            checks.append(_clock(prober, reached.response.headers))
        if not reached.authorized:
            if prober.has_token and reached.response is not None and reached.response.status not in (401, 403):
                checks.append(_no_discovery(prober, reached.response.status))
            return checks
        listing = _connections(reached.response.body if reached.response else b"")
        if listing is None:
            return [*checks, Check.failed(prober.name("connection"), "the connections list has the wrong shape",
                                          "check [abstra] endpoint: is it the Abstra cloud API?")]
        if settings.abstra.manager_streams:
            checks += await _manager(prober, settings, listing)
        for stream in settings.custom:
            checks.append(await _custom(prober, stream.name, stream.connection, listing))
        return checks


def _no_discovery(prober: Prober, status: int) -> Check:
    return Check.failed(
        prober.name("connection"), f"GET {_CLI}/connections answered HTTP {status}",
        "check [abstra] endpoint: it should be the Abstra cloud API (https://cloud-api.abstra.cloud)",
        ExitCode.CONFIG if status == 404 else ExitCode.PARTIAL,
    )


def _clock(prober: Prober, headers: Any) -> Check:
    """This machine's clock against the server's `Date` (1 s resolution)."""
    name = prober.name("clock")
    text = next((v for k, v in headers.items() if k.lower() == "date"), None)
    try:
        server = parsedate_to_datetime(text).astimezone(UTC) if text else None
    except (TypeError, ValueError):
        server = None
    if server is None:
        return Check.passed(name, "the server sent no readable Date header; skew not checked", warn=True)
    skew = (utc_now() - server).total_seconds()
    where = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the server"
    if abs(skew) > MAX_SKEW.total_seconds():
        return Check.failed(name, f"this machine's clock is {where}",
                            "synchronise the clock (NTP): windows and lookback are computed from it")
    return Check.passed(name, f"{where} (limit {MAX_SKEW.total_seconds() / 60:g} min)")


def _connections(body: bytes) -> dict[str, str | None] | None:
    """name → connectionType (None when not reported), or None for a reply of another shape."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in data):
        return None
    return {c["name"]: c.get("connectionType") if isinstance(c.get("connectionType"), str) else None for c in data}


def _unknown_connection(name: str, connection: str, listing: dict[str, str | None], key: str) -> Check:
    known = ", ".join(sorted(listing)[:20]) or "none"
    return Check.failed(name, f"connection {connection!r} not found (this token sees: {known})",
                        f"set {key} to one of the names listed", ExitCode.CONFIG)


async def _manager(prober: Prober, settings: Settings, listing: dict[str, str | None]) -> list[Check]:
    """The Manager connection, its actions and the window; stops at the first that fails."""
    assert settings.abstra is not None
    connection = settings.abstra.connection
    checks = [_connection(prober, connection, listing)]
    if not checks[0].ok:
        return checks
    offered = await _offered(prober, connection)
    if isinstance(offered, Check):
        return [*checks, offered]
    needed = _needed_actions(settings)
    checks += _actions(prober, offered, needed)
    window = await _window(prober, settings, [a for a in needed if a in offered])
    return checks if window is None else [*checks, window]


def _connection(prober: Prober, connection: str, listing: dict[str, str | None]) -> Check:
    name = prober.name("connection")
    if connection not in listing:
        return _unknown_connection(name, connection, listing, "[abstra] connection")
    kind = listing[connection]
    if kind is None:
        return Check.passed(name, f"{connection!r} exists (its type is not reported)")
    if "".join(ch for ch in kind.lower() if ch.isalnum()) != "abstramanager":
        return Check.failed(name, f"{connection!r} is a {kind!r} connection, not an Abstra Manager one",
                            "set [abstra] connection to your Abstra Manager connection", ExitCode.CONFIG)
    return Check.passed(name, f"{connection!r} exists ({kind})")


async def _offered(prober: Prober, connection: str) -> list[str] | Check:
    """Every action name the connection offers (paged), or the line saying why not."""
    names: list[str] = []
    for page in range(1, _MAX_PAGES + 1):
        try:
            response = await prober.get(f"{_path('connection', connection, 'actions')}?page={page}&pageSize={_PAGE_SIZE}")
        except HarvestError as exc:
            return Check.failed(prober.name("actions"), str(exc), code=exc.exit_code)
        data = _json(response.body)
        batch = data.get("data") if isinstance(data, dict) and response.status == 200 else None
        if not isinstance(batch, list) or not all(isinstance(n, str) for n in batch):
            return Check.failed(prober.name("actions"), f"listing them answered HTTP {response.status} "
                                f"or a reply of another shape", "check [abstra] endpoint")
        names += batch
        if len(batch) < _PAGE_SIZE:
            break
    return list(dict.fromkeys(names))


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _needed_actions(settings: Settings) -> list[str]:
    """The actions this config's harvest calls: `get_organization` (discovery lists the
    projects) and the action of each chosen Manager stream."""
    chosen = resolve_streams(build_sources(settings), settings.harvest.streams).get("abstra", [])
    actions = ["get_organization", *(ALL_STREAMS[s.name].action for s in chosen)]
    return list(dict.fromkeys(actions))


def _actions(prober: Prober, offered: list[str], needed: list[str]) -> list[Check]:
    """One summary line, then one per expected action that is missing."""
    present = [a for a in EXPECTED_ACTIONS if a in offered]
    extra = [a for a in offered if a not in EXPECTED_ACTIONS]
    detail = f"{len(present)} of the {len(EXPECTED_ACTIONS)} expected actions offered, {len(needed)} read by this config"
    summary = Check.passed(prober.name("actions"), detail + (f"; also offered: {', '.join(extra[:10])}" if extra else ""))
    missing = [a for a in EXPECTED_ACTIONS if a not in offered]
    renamed = _renames(missing, extra)
    return [summary, *(_missing(prober, a, renamed.get(a), a in needed) for a in missing)]


def _missing(prober: Prober, action: str, renamed: str | None, needed: bool) -> Check:
    name = prober.name(f"action {action}")
    detail = "missing" + (f"; renamed? the connection offers {renamed}" if renamed else "")
    if not needed:
        return Check.passed(name, detail + " (not read by this config)", warn=True)
    streams = ", ".join(s.name for s in ALL_STREAMS.values() if s.action == action) or "discovery"
    return Check.failed(name, detail, f"the harvest of {streams} would fail: leave it out of [harvest] streams, "
                        "or upgrade the harvester to the connector's new shape")


def _renames(missing: list[str], extra: list[str]) -> dict[str, str]:
    """Missing action → the unexpected offered action it was probably renamed to: a
    known former name first, then a close spelling; each offered name claimed once."""
    found: dict[str, str] = {}
    for action in missing:
        former = next((f for f in _FORMER_NAMES.get(action, ()) if f in extra and f not in found.values()), None)
        if former:
            found[action] = former
    for action in (a for a in missing if a not in found):
        close = difflib.get_close_matches(action, [e for e in extra if e not in found.values()], n=1, cutoff=0.6)
        if close:
            found[action] = close[0]
    return found


async def _window(prober: Prober, settings: Settings, actions: list[str]) -> Check | None:
    """One org-wide log action over a window of `[harvest] slice_days` (31 by default)
    ending now, limit 1: the widest window the harvest will ask for."""
    org_logs = [a for a, scope in LOG_STREAM_ACTIONS.values() if scope is Scope.ORG and a in actions]
    if not org_logs:
        return None
    days = settings.harvest.slice_days
    name = prober.name("window")
    end = utc_now().replace(microsecond=0)
    query = LogQuery(start=end - timedelta(days=days), end=end, limit=1)
    client = _client(prober, settings)
    try:
        await client.log_page(org_logs[0], query)
    except HarvestError as exc:
        return Check.failed(name, f"a {days}-day window was refused: {exc}",
                            "lower [harvest] slice_days to a window the server accepts", exc.exit_code)
    return Check.passed(name, f"{org_logs[0]} accepts a {days}-day window")


def _client(prober: Prober, settings: Settings) -> AbstraClient:
    """A client on the prober's transport that tries once (closed with the prober)."""
    assert settings.abstra is not None
    return AbstraClient(endpoint=settings.abstra.endpoint, connection=settings.abstra.connection,
                        token=settings.require_token(), transport=prober.transport, retry=RetryPolicy(max_retries=0))


async def _custom(prober: Prober, stream: str, connection: str, listing: dict[str, str | None]) -> Check:
    """A `[[custom]]` stream's connection exists and offers the `custom` action."""
    name = f"[[custom]] {stream}"
    if connection not in listing:
        return _unknown_connection(name, connection, listing, f"[[custom]] {stream} connection")
    kind = f" ({listing[connection]})" if listing[connection] else ""
    try:
        response = await prober.get(_path("connection", connection, "action", "custom"))
    except HarvestError as exc:
        return Check.failed(name, str(exc), code=exc.exit_code)
    if response.status == 200:
        return Check.passed(name, f"connection {connection!r}{kind} offers the custom action")
    if response.status == 404:
        return Check.failed(name, f"connection {connection!r}{kind} does not offer the custom action",
                            "point it at an HTTP connector (database connectors have no custom action)",
                            ExitCode.CONFIG)
    return Check.failed(name, f"asking for its custom action answered HTTP {response.status}")
