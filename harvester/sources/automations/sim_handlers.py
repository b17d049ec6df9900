"""The simulator's served reads: one function per GET route of seed 001 the harvester needs.

Each takes the platform and the request's path ids and query, and returns a `Reply`
or raises `ApiError` (an AIP error status). Page sizes follow the seed: List
Automations returns 10 when unspecified, the other lists 50; any value above 1000 is
coerced to 1000; a negative one is INVALID_ARGUMENT. List replies name their array
after the resource and, as proto3 JSON does, omit it when empty; the last page omits
`next_page_token`, except default-inputs history, whose seed says "Empty if no more
results" and so gets "".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ...records import content_id
from .sim_data import Automation, Platform
from .sim_paging import PageTokenError, page_of, query_hash, restart_token

__all__ = ["HANDLERS", "ApiError", "Reply", "Request"]

MAX_PAGE_SIZE = 1000


class ApiError(Exception):
    """An error reply: HTTP status, google.rpc code name, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Request:
    ids: Mapping[str, str]  # organization_id, workspace_id, automation_id, revision_id from the path
    query: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """A successful reply. `again` (list replies only) is a page_token that reads this
    same page again: what the paging faults hand out."""

    data: dict[str, Any]
    again: str | None = None

    def body(self) -> bytes:
        return orjson.dumps(self.data)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def _page_size(query: Mapping[str, str], default: int) -> int:
    text = query.get("page_size", "")
    try:
        size = int(text) if text else 0
    except ValueError:
        raise _invalid(f"page_size {text[:40]!r} is not an integer") from None
    if size < 0:
        raise _invalid("page_size must not be negative")
    return min(size, MAX_PAGE_SIZE) or default


def _flag(query: Mapping[str, str], name: str) -> bool:
    text = query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise _invalid(f"{name} {text[:40]!r} is not true or false")
    return text in ("true", "1")


def _no_filter(query: Mapping[str, str]) -> None:
    if query.get("filter"):
        raise _invalid("filter is not implemented by the simulator")


def _automation(platform: Platform, request: Request) -> Automation:
    ids = request.ids
    if not platform.has_workspace(ids["organization_id"], ids["workspace_id"]):
        raise ApiError(404, "NOT_FOUND", f"workspace {ids['workspace_id'][:100]!r} not found")
    automation = platform.workspace(ids["workspace_id"]).get(ids["automation_id"])
    if automation is None:
        raise ApiError(404, "NOT_FOUND", f"automation {ids['automation_id'][:100]!r} not found")
    return automation


def _list(
    request: Request,
    route: str,
    items: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    field: str,
    default_size: int,
    *scope: object,
    last_token: str | None = None,
) -> Reply:
    """A page of `items` (sorted here by descending `key`) under `field`."""
    query = request.query
    size = _page_size(query, default_size)
    _no_filter(query)
    qhash = query_hash(route, *request.ids.values(), *scope)
    token = query.get("page_token") or None
    try:
        page, next_token = page_of(sorted(items, key=key, reverse=True), key, size, token, qhash)
    except PageTokenError as exc:
        raise _invalid(str(exc)) from None
    data: dict[str, Any] = {field: page} if page else {}
    if next_token is not None:
        data["next_page_token"] = next_token
    elif last_token is not None:
        data["next_page_token"] = last_token
    return Reply(data, restart_token(token, qhash))


def list_automations(platform: Platform, request: Request) -> Reply:
    ids = request.ids
    if not platform.has_workspace(ids["organization_id"], ids["workspace_id"]):
        raise ApiError(404, "NOT_FOUND", f"workspace {ids['workspace_id'][:100]!r} not found")
    show_deleted = _flag(request.query, "show_deleted")
    bodies = [a.body for a in platform.listed(ids["workspace_id"], show_deleted)]
    # newest update_time first; ties by id (fixed-width times make the string order right)
    return _list(request, "list_automations", bodies, _automation_key, "automations", 10, show_deleted)


def _automation_key(body: dict[str, Any]) -> str:
    return f"{body['update_time']}|{body['name'].rsplit('/', 1)[-1]}"


def get_automation(platform: Platform, request: Request) -> Reply:
    """Soft-deleted automations are returned too, with delete_time (AIP-164)."""
    return Reply(_automation(platform, request).body)


def list_automation_revisions(platform: Platform, request: Request) -> Reply:
    revisions = _automation(platform, request).revisions
    return _list(
        request, "list_automation_revisions", revisions, lambda r: f"{r['create_time']}|{r['name']}",
        "automation_revisions", 50,
    )


def get_automation_revision(platform: Platform, request: Request) -> Reply:
    """By revision id or by one of its alternate_ids (AIP-162 aliases)."""
    wanted = request.ids["revision_id"]
    for revision in _automation(platform, request).revisions:
        if revision["name"].rsplit("/", 1)[-1] == wanted or wanted in revision.get("alternate_ids", ()):
            return Reply(revision)
    raise ApiError(404, "NOT_FOUND", f"revision {wanted[:100]!r} not found")


def get_automation_schedule(platform: Platform, request: Request) -> Reply:
    schedule = _automation(platform, request).schedule
    if schedule is None:
        raise ApiError(404, "NOT_FOUND", f"automation {request.ids['automation_id'][:100]!r} has no schedule")
    return Reply(schedule)


def list_automation_triggers(platform: Platform, request: Request) -> Reply:
    triggers = _automation(platform, request).triggers
    return _list(request, "list_automation_triggers", triggers, lambda t: t["trigger_id"], "automation_triggers", 50)


def list_default_inputs_history(platform: Platform, request: Request) -> Reply:
    """Newest first, as the seed says."""
    entries = _automation(platform, request).default_inputs
    return _list(
        request, "list_default_inputs_history", entries, lambda e: f"{e['create_time']}|{e.get('id') or content_id(e)}",
        "default_inputs_history", 50, last_token="",
    )


HANDLERS: dict[str, Callable[[Platform, Request], Reply]] = {
    "list_automations": list_automations,
    "get_automation": get_automation,
    "list_automation_revisions": list_automation_revisions,
    "get_automation_revision": get_automation_revision,
    "get_automation_schedule": get_automation_schedule,
    "list_automation_triggers": list_automation_triggers,
    "list_default_inputs_history": list_default_inputs_history,
}
