"""Automations API replies → warehouse rows, or rejects. Pure and total.

Nothing here raises on a bad entry: each entry becomes a typed row (with `raw`, the
whole entry, so a field the seed does not name is kept) or a `Reject` carrying its
reason and raw text, and its page goes on. Only a reply whose *shape* is unusable
(`list_items` on something that is not a list reply) raises `ListReplyError`, one
line naming what was seen, because no entry of it can be trusted to be an entry.

Typing reuses `harvester.records.RowBuilder` (driven by the table spec's columns);
this module adds what the seed's resources need on top: ids taken from AIP resource
names, the request path's context, the schedule's int32 and the default-inputs
entry's time field, which the seed does not name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sinks.tables import Table

from ...pages import Reject, Row
from ...records import RowBuilder, raw_text
from ...timeutil import parse_entry_time
from .tables import (
    AUTOMATION_DEFAULT_INPUTS,
    AUTOMATION_REVISIONS,
    AUTOMATION_SCHEDULES,
    AUTOMATION_TRIGGERS,
    AUTOMATIONS,
)

__all__ = [
    "Built",
    "ListReplyError",
    "PathScope",
    "TIME_FIELDS",
    "automation_id_of",
    "automation_rows",
    "default_input_rows",
    "entry_time",
    "list_items",
    "revision_rows",
    "schedule_rows",
    "trigger_rows",
]

NEXT_PAGE_TOKEN = "next_page_token"
# Fields a default-inputs history entry may carry its time in, first found wins. The
# seed names none; AIP spells it create_time, other APIs created_at/createTime.
TIME_FIELDS = ("create_time", "created_at", "createTime", "createdAt", "time")
_INT64 = (-(2**63), 2**63 - 1)
_DIGITS = re.compile(r"-?[0-9]{1,19}")


class ListReplyError(ValueError):
    """A List reply that is not `{<one array>, next_page_token?}`: nothing in it is usable."""


@dataclass(frozen=True)
class PathScope:
    """Where a reply came from: the ids in the request path (or the config)."""

    organization_id: str
    workspace_id: str
    automation_id: str | None = None


@dataclass
class Built:
    """One reply's rows and the entries that could not be stored."""

    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class _Bad(ValueError):
    """An entry the context cannot place (no id, a bad key): a reject, not an error."""


def _keys_seen(reply: Mapping[Any, Any]) -> str:
    shown = [repr(str(k))[:40] for k in list(reply)[:8]]
    more = f" and {len(reply) - 8} more" if len(reply) > 8 else ""
    return (", ".join(shown) or "none") + more


def list_items(reply: Any) -> tuple[list[Any], str | None]:
    """(items, next_page_token) of an AIP List reply.

    The seed does not name the array (AIP names it after the resource: `automations`,
    `automation_revisions`, ...), so the items are the reply's one non-empty array
    other than `next_page_token`. AIP omits empty repeated fields, so `{}` or a reply
    with only empty arrays is an empty page. Beside a non-empty array of objects,
    non-empty arrays holding no object (AIP-217 `unreachable` strings) are ignored.
    An empty or absent token means the last page.
    """
    if not isinstance(reply, dict):
        raise ListReplyError(f"list reply is {type(reply).__name__}, expected a JSON object with one array")
    token = reply.get(NEXT_PAGE_TOKEN)
    if token is not None and not isinstance(token, str):
        raise ListReplyError(f"next_page_token is {type(token).__name__}, expected a string")
    arrays = {k: v for k, v in reply.items() if k != NEXT_PAGE_TOKEN and isinstance(v, list) and v}
    if len(arrays) > 1:
        arrays = {k: v for k, v in arrays.items() if any(isinstance(item, dict) for item in v)}
    if len(arrays) > 1:
        raise ListReplyError(
            f"list reply has {len(arrays)} arrays of objects ({_keys_seen(arrays)}), expected one; keys: "
            + _keys_seen(reply)
        )
    items = next(iter(arrays.values()), [])
    return list(items), token or None


def automation_id_of(entry: Mapping[str, Any]) -> str | None:
    """An automation's id: the last segment of its resource name
    (`organizations/{o}/workspaces/{w}/automations/{id}`), else an `id` field, else a
    bare `name` with no slash. The seed's Automation has `name` but no `id`."""
    name = entry.get("name")
    if isinstance(name, str) and name:
        parts = name.split("/")
        if len(parts) >= 2 and parts[-2] == "automations" and parts[-1]:
            return parts[-1]
    value = entry.get("id")
    if isinstance(value, str) and value:
        return value
    if isinstance(name, str) and name and "/" not in name:
        return name
    return None


def _segment_after(name: str, collection: str) -> str | None:
    parts = name.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == collection and parts[i + 1]:
            return parts[i + 1]
    return None


def _integer(value: Any, name: str) -> int | None:
    """An int32/int64 field: a JSON number, or a decimal string as proto3 JSON allows."""
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{name} is {type(value).__name__}, expected an integer")
    if not _INT64[0] <= value <= _INT64[1]:
        raise _Bad(f"{name} {value} is out of the 64-bit range")
    return value


def entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """The first of TIME_FIELDS the entry carries, as aware UTC; None when it has none.

    Raises ValueError (naming the field) when that field is not an ISO-8601 time with
    a zone: guessing would file the entry under the wrong instant."""
    for name in TIME_FIELDS:
        value = entry.get(name)
        if value is not None:
            try:
                return parse_entry_time(value)
            except ValueError as exc:
                raise _Bad(str(exc).replace("createdAt", name, 1)) from None
    return None


_BUILDERS = {
    AUTOMATIONS.name: RowBuilder(AUTOMATIONS),
    AUTOMATION_REVISIONS.name: RowBuilder(AUTOMATION_REVISIONS),
    AUTOMATION_SCHEDULES.name: RowBuilder(AUTOMATION_SCHEDULES),
    AUTOMATION_TRIGGERS.name: RowBuilder(AUTOMATION_TRIGGERS, required=("trigger_id",)),
    AUTOMATION_DEFAULT_INPUTS.name: RowBuilder(AUTOMATION_DEFAULT_INPUTS),
}


def _build(table: Table, entries: Iterable[Any], context: Callable[[dict[str, Any]], Row]) -> Built:
    """Rows of `table`: the typed fields (RowBuilder) plus `context(entry)`'s columns,
    which also override RowBuilder's generic `id` where the key is derived."""
    built = Built()
    builder = _BUILDERS[table.name]
    for entry in entries:
        try:
            extra = context(entry) if isinstance(entry, dict) else {}
        except _Bad as exc:
            built.rejects.append(Reject(table.name, str(exc), raw_text(entry)))
            continue
        result = builder.build(entry, table.name, **extra)
        if isinstance(result, Reject):
            built.rejects.append(result)
        else:
            built.rows.append(result)
    return built


def _automation_scope(scope: PathScope) -> str:
    if scope.automation_id is None:
        raise ValueError("this reply belongs to one automation: give PathScope.automation_id")
    return scope.automation_id


def automation_rows(items: Iterable[Any], scope: PathScope) -> Built:
    """List Automations items → `automations` rows of `scope`'s workspace."""

    def context(entry: dict[str, Any]) -> Row:
        automation_id = automation_id_of(entry)
        if automation_id is None:
            raise _Bad("automation has no id: neither a name ending in automations/{id} nor an id field")
        return {"id": automation_id, "organization_id": scope.organization_id, "workspace_id": scope.workspace_id}

    return _build(AUTOMATIONS, items, context)


def revision_rows(items: Iterable[Any], scope: PathScope) -> Built:
    """List Automation Revisions items → `automation_revisions` rows.

    The key is the full resource name; `revision_id` is its last segment (a version
    such as "1.0"), `automation_id` the segment after `automations/` (the requested
    automation when the name has none)."""
    fallback = _automation_scope(scope)

    def context(entry: dict[str, Any]) -> Row:
        name = entry.get("name")
        if name is None:
            raise _Bad("name is missing, expected organizations/.../automations/{id}/revisions/{revision}")
        if not isinstance(name, str) or not name.strip("/"):
            what = "empty" if isinstance(name, str) else type(name).__name__
            raise _Bad(f"name is {what}, expected a resource name")
        return {
            "id": name,
            "revision_id": name.rstrip("/").rsplit("/", 1)[-1],
            "automation_id": _segment_after(name, "automations") or fallback,
            "workspace_id": scope.workspace_id,
        }

    return _build(AUTOMATION_REVISIONS, items, context)


def schedule_rows(reply: Any, scope: PathScope, *, status: int = 200) -> Built:
    """Get Automation Schedule → zero or one `automation_schedules` row.

    A 404 (`status`), no body or an empty object means the automation has no schedule:
    an empty result, which the snapshot merge reads as "its schedule is gone"."""
    automation_id = _automation_scope(scope)
    if status == 404 or reply is None or reply == {}:
        return Built()

    def context(entry: dict[str, Any]) -> Row:
        occurrences = _integer(entry.get("remaining_occurrences"), "remaining_occurrences")
        return {"automation_id": automation_id, "remaining_occurrences": occurrences}

    return _build(AUTOMATION_SCHEDULES, [reply], context)


def trigger_rows(items: Iterable[Any], scope: PathScope) -> Built:
    """List Automation Triggers items → `automation_triggers` rows of the requested
    automation (the snapshot's scope, whatever the entry's `automation` says)."""
    automation_id = _automation_scope(scope)
    return _build(AUTOMATION_TRIGGERS, items, lambda entry: {"automation_id": automation_id})


def default_input_rows(items: Iterable[Any], scope: PathScope) -> Built:
    """List Default Inputs History items → `automation_default_inputs` rows.

    The key is the entry's `id`, else a content hash (RowBuilder's rule), so an entry
    without one is still stored once however often it is re-read."""
    automation_id = _automation_scope(scope)
    return _build(
        AUTOMATION_DEFAULT_INPUTS,
        items,
        lambda entry: {"automation_id": automation_id, "created_at": entry_time(entry)},
    )
