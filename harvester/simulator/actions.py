"""The 16 Abstra Manager actions: parameter checks and reply data, no HTTP.

Each handler takes the organization and the request's `parameters` and returns a
`Reply`, or raises `ActionError` carrying the message the API sends back. Log
pages are assembled from pre-serialised entries; `Reply` keeps the pieces so a
fault (cursor loop, empty page, count drift) can re-render a wrong variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..timeutil import format_wire, parse_user_instant
from .config import LOG_ACTIONS
from .cursor import CursorError, decode_cursor, encode_cursor, query_hash
from .entities import INVENTORY_ACTIONS
from .logs import DayBlock
from .org import Accept, Org

__all__ = ["ACTIONS", "ActionError", "MAX_PROJECT_IDS", "MAX_WINDOW", "Reply", "execute", "unknown_action"]

MAX_WINDOW = timedelta(days=31)
MAX_PROJECT_IDS = 100
DEFAULT_LIMIT = 100

# the optional filters of each log action: name -> expected type
_LOG_FILTERS: dict[str, dict[str, type]] = {
    "get_organization_action_logs": {"event": str},
    "get_project_action_logs": {"event": str},
    "get_auth_attempt_logs": {"projectId": str, "status": str, "email": str},
    "get_email_notification_logs": {"projectId": str, "kind": str},
    "get_connector_action_logs": {"projectId": str, "source": str, "errored": bool},
    "get_ai_prompt_logs": {"projectId": str, "errored": bool},
}


class ActionError(Exception):
    """The action refused its parameters; `message` goes to the client as is.

    `http_status` None means "the configured `error_http_status`".
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


@dataclass
class Reply:
    """A successful action's data, kept in a form faults can bend."""

    data: Any = None
    entries: list[bytes] | None = None  # log pages: wire entries, newest first
    next_cursor: str | None = None
    here_cursor: str | None = None  # a cursor for the position this page started at
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_log_page(self) -> bool:
        return self.entries is not None

    def body(self) -> bytes:
        if self.entries is None:
            return orjson.dumps({"status": "success", "data": self.data})
        return log_page_body(self.entries, self.next_cursor)


def log_page_body(entries: list[bytes], next_cursor: str | None) -> bytes:
    tail = b"null" if next_cursor is None else orjson.dumps(next_cursor)
    return b'{"status":"success","data":{"entries":[' + b",".join(entries) + b'],"nextCursor":' + tail + b"}}"


# --- parameter helpers ------------------------------------------------------


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise ActionError(f"Missing required parameter '{name}'")
    return value


def _string(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _required(params, name) if required else params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError(f"Invalid '{name}': expected a string")
    return value


def _instant(params: dict[str, Any], name: str) -> datetime:
    value = _required(params, name)
    if not isinstance(value, str):
        raise ActionError(f"Invalid '{name}': expected an ISO-8601 date string")
    try:
        return parse_user_instant(value, what=name)
    except ValueError:
        raise ActionError(f"Invalid '{name}': {value[:64]!r} is not an ISO-8601 date") from None


def _window(org: Org, params: dict[str, Any]) -> tuple[str, str, datetime, datetime]:
    """(lo, hi) as wire strings at millisecond precision, plus the parsed instants."""
    start, end = _instant(params, "from"), _instant(params, "to")
    if start > end:
        raise ActionError("Invalid date range: 'from' must not be after 'to'")
    days = org.config.max_window_days
    if end - start > min(MAX_WINDOW, timedelta(days=days)):
        raise ActionError(f"Date range cannot exceed {min(days, MAX_WINDOW.days)} days")
    lo = start + timedelta(microseconds=(1000 - start.microsecond % 1000) % 1000)  # ceil to the ms
    return format_wire(lo), format_wire(end), start, end


def _int(params: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ActionError(f"Invalid '{name}': expected an integer >= {minimum}")
    return value


def _limit(org: Org, params: dict[str, Any]) -> int:
    return min(_int(params, "limit", DEFAULT_LIMIT, 1), org.config.max_limit)


def _bool(params: dict[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ActionError(f"Invalid '{name}': expected a boolean")


def _project_ids(params: dict[str, Any]) -> list[str]:
    value = params.get("projectIds")
    if value is None or value == []:
        raise ActionError("Missing required parameter 'projectIds' (a non-empty array of project ids)")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ActionError("Invalid 'projectIds': expected an array of strings")
    if len(value) > MAX_PROJECT_IDS:
        raise ActionError(f"Too many projectIds: at most {MAX_PROJECT_IDS} per call, got {len(value)}")
    return value


# --- log actions --------------------------------------------------------------


def _accept(filters: dict[str, Any], project_ids: list[str] | None) -> Accept | None:
    """A predicate over a block's entry, or None for "everything" (the fast path).

    Filters look at the well-formed entry underneath a malformed one, so a bad
    entry is served to exactly the queries its good self would match.
    """
    pids = set(project_ids) if project_ids is not None else None
    if not filters:
        if pids is None:
            return None
        return lambda block, i: block.pids[i] in pids

    def accept(block: DayBlock, i: int) -> bool:
        if pids is not None and block.pids[i] not in pids:
            return False
        entry = orjson.loads(block.good.get(block.keys[i]) or block.blobs[i])
        return isinstance(entry, dict) and all(entry.get(k) == v for k, v in filters.items())

    return accept


def _log_action(action: str) -> Callable[[Org, dict[str, Any]], Reply]:
    stream = LOG_ACTIONS[action]
    filter_types = _LOG_FILTERS[action]

    def handle(org: Org, params: dict[str, Any]) -> Reply:
        lo, hi, _, _ = _window(org, params)
        limit = _limit(org, params)
        project_ids = _project_ids(params) if action == "get_project_action_logs" else None
        filters: dict[str, Any] = {}
        for name, kind in filter_types.items():
            value = _bool(params, name) if kind is bool else _string(params, name)
            if value is not None:
                filters[name] = value
        qhash = query_hash(action, lo, hi, project_ids, filters)
        cursor = params.get("cursor")
        try:
            key = None if cursor is None or cursor == "" else decode_cursor(cursor, qhash)
        except CursorError as exc:
            raise ActionError(str(exc)) from None
        upper = key if key is not None else hi + "~"  # "~" sorts after every id character
        entries, last, more = org.page_logs(stream, lo, upper, limit, _accept(filters, project_ids))
        return Reply(
            entries=entries,
            next_cursor=encode_cursor(qhash, last) if more else None,
            here_cursor=encode_cursor(qhash, key),
        )

    return handle


# --- the other actions --------------------------------------------------------


def _executions(org: Org, params: dict[str, Any]) -> Reply:
    project_id = _string(params, "projectId", required=True)
    assert project_id is not None
    lo, hi, _, _ = _window(org, params)
    limit = _limit(org, params)
    offset = _int(params, "offset", 0, 0)
    try:
        found = org.executions_between(project_id, lo, hi)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    clock = org.now()
    page = [ex.to_json(clock) for ex in found[offset : offset + limit]]
    return Reply(data={"executions": page, "totalCount": len(found)})


def _consumption(org: Org, params: dict[str, Any]) -> Reply:
    project_id = _string(params, "projectId", required=True)
    assert project_id is not None
    _, _, start, end = _window(org, params)
    try:
        return Reply(data=org.consumption(project_id, start, end))
    except ValueError as exc:
        raise ActionError(str(exc)) from None


def _inventory(action: str) -> Callable[[Org, dict[str, Any]], Reply]:
    def handle(org: Org, params: dict[str, Any]) -> Reply:
        project_id = _string(params, "projectId", required=True)
        assert project_id is not None
        try:
            return Reply(data=org.inventory(action, project_id))
        except ValueError as exc:
            raise ActionError(str(exc)) from None

    return handle


def _add_member(org: Org, params: dict[str, Any]) -> Reply:
    email = _string(params, "email", required=True)
    assert email is not None
    if "@" not in email:
        raise ActionError(f"Invalid 'email': {email[:64]!r} is not an email address")
    folder_ids = params.get("folderIds")
    if folder_ids is not None and (
        not isinstance(folder_ids, list) or not all(isinstance(f, str) for f in folder_ids)
    ):
        raise ActionError("Invalid 'folderIds': expected an array of strings")
    try:
        return Reply(data=org.add_member(email, folder_ids))
    except ValueError as exc:
        raise ActionError(str(exc)) from None


def _remove_member(org: Org, params: dict[str, Any]) -> Reply:
    email = _string(params, "email", required=True)
    assert email is not None
    try:
        return Reply(data=org.remove_member(email))
    except ValueError as exc:
        raise ActionError(str(exc)) from None


ACTIONS: dict[str, Callable[[Org, dict[str, Any]], Reply]] = {
    "get_organization": lambda org, _: Reply(data=org.organization()),
    "get_members": lambda org, _: Reply(data=org.members()),
    "get_project_executions": _executions,
    "get_project_consumption": _consumption,
    **{action: _inventory(action) for action in INVENTORY_ACTIONS},
    **{action: _log_action(action) for action in LOG_ACTIONS},
    "add_member": _add_member,
    "remove_member": _remove_member,
}


def unknown_action(action: object) -> ActionError:
    """What the API answers for an action the connection does not have (HTTP 400)."""
    shown = action[:80] if isinstance(action, str) else action
    return ActionError(f"Unknown action '{shown}'", http_status=400)


def execute(org: Org, action: object, params: object) -> Reply:
    """Run one action; `ActionError` for unknown actions (HTTP 400) and bad parameters."""
    if not isinstance(action, str) or action not in ACTIONS:
        raise unknown_action(action)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ActionError("Invalid 'parameters': expected an object")
    return ACTIONS[action](org, params)
