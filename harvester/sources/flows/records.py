"""Flows API replies → warehouse rows, or a one-line reason. Pure and total: never raises.

The seed documents neither reply's shape ("Response when grouping by user", "object"),
so the parsers accept every reasonable reading and refuse the rest with a reason that
says what was expected; the caller keeps the raw reply in `_rejects`.

Execution counts are all or nothing: a reply replaces its whole (day, group_by) group,
so storing half of a reply would silently lower the stored counts. Log entries are
judged one by one: a bad entry is rejected, its neighbours are kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from harvester.records import Unstorable, content_id, json_fragment
from harvester.timeutil import parse_entry_time

__all__ = [
    "CountItem",
    "count_rows",
    "count_table_rows",
    "log_entries",
    "log_id",
    "log_row",
    "merge_error_reads",
]

CountItem = tuple[str, int, Any]  # (key, count, the raw item it came from)

COUNT_WRAPPERS = ("data", "items", "results")
LOG_WRAPPERS = ("data", "logs", "items", "results")
# fields that may name the group in a list item, after `<group_by>`, `<group_by>Id`, `<group_by>_id`
_NAME_FIELDS = ("key", "id", "name", "group", "user", "flow", "component")
# when an item holds several numbers, these names say which one is the count
_COUNT_FIELDS = ("count", "executions", "executionCount", "execution_count", "total", "value")
_ID_FIELDS = ("id", "_id", "logId", "log_id")
_FLOW_FIELDS = ("flowId", "flow_id", "flow")
_STEP_FIELDS = ("stepId", "step_id", "step")
_TIME_FIELDS = ("createdAt", "created_at", "timestamp", "time", "date")
_MAX_UNWRAP = 3  # `{"data": {"items": [...]}}` is fine; deeper is not a reasonable reading
_BIGINT_MAX = 2**63 - 1
_EPOCH_MS_ABOVE = 100_000_000_000  # a number above this is milliseconds (year 5138 in seconds)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Bad(ValueError):
    """One reason an item or entry cannot be stored."""


# --- shared ---------------------------------------------------------------------


def _describe(value: Any) -> str:
    """`an object with keys status, message` / `a list` / `a string`: for error lines."""
    if isinstance(value, dict):
        keys = ", ".join(repr(k)[:30] for k in list(value)[:6]) or "none"
        return f"an object with keys {keys}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "null" if value is None else f"the {type(value).__name__} {repr(value)[:40]}"


def _unwrap(reply: Any, wrappers: tuple[str, ...]) -> Any:
    """The list or object under a wrapper key, repeatedly; the reply itself otherwise.

    A wrapper only counts when it holds a list or an object, so `{"data": 5}` stays a
    mapping of key → count. Two wrappers holding containers are ambiguous.
    """
    for _ in range(_MAX_UNWRAP):
        if not isinstance(reply, dict):
            return reply
        inner = [k for k in wrappers if isinstance(reply.get(k), dict | list)]
        if not inner:
            return reply
        if len(inner) > 1:
            raise _Bad(f"reply holds both {inner[0]!r} and {inner[1]!r}: cannot tell which is the data")
        reply = reply[inner[0]]
    return reply


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any, name: str) -> str | None:
    """A string column: strings and integers (ids are sometimes numbers); null is None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Bad(f"{name} is {type(value).__name__}, expected a string")


def _first(entry: dict[str, Any], names: Iterable[str]) -> tuple[str, Any] | None:
    """The first of `names` the entry holds with a non-null value."""
    for name in names:
        if entry.get(name) is not None:
            return name, entry[name]
    return None


# --- execution counts -----------------------------------------------------------


def _count(value: Any, name: str) -> int:
    name = name[:60]
    if not _is_number(value):
        raise _Bad(f"count {name!r} is {_describe(value)}, expected a number")
    if not math.isfinite(value) or value != int(value):
        raise _Bad(f"count {name!r} is {value!r}, expected a whole number")
    if not 0 <= value <= _BIGINT_MAX:
        raise _Bad(f"count {name!r} is {int(value)}, expected 0 to 2^63-1")
    return int(value)


def _group_key(item: dict[str, Any], group_by: str) -> tuple[str, str]:
    """(field, key) of the string naming the group: the grouping's own name first."""
    names = (group_by, f"{group_by}Id", f"{group_by}_id", *_NAME_FIELDS)
    found = _first(item, names)
    if found is None:
        raise _Bad(f"item {_describe(item)} has no field naming the group (expected one of {', '.join(names)})")
    field, value = found
    if isinstance(value, dict | list):
        raise _Bad(f"group field {field!r} is {_describe(value)}, expected a string")
    key = _text(value, f"group field {field!r}")
    assert key is not None  # _first skips nulls
    return field, key


def _count_field(item: dict[str, Any], name_field: str) -> str:
    """The one numeric field of an item (besides its name), or the one with a count's name."""
    numbers = [k for k, v in item.items() if k != name_field and _is_number(v)]
    if len(numbers) == 1:
        return numbers[0]
    named = [k for k in numbers if k in _COUNT_FIELDS]
    if len(named) == 1:
        return named[0]
    if not numbers:
        raise _Bad(f"item {_describe(item)} has no numeric count field")
    listed = ", ".join(repr(k)[:30] for k in numbers[:4])
    raise _Bad(f"item has several numeric fields ({listed}): cannot tell which is the count")


def _item(item: Any, group_by: str) -> CountItem:
    if not isinstance(item, dict):
        raise _Bad(f"list item is {_describe(item)}, expected an object like {{{group_by!r}: key, 'count': n}}")
    name_field, key = _group_key(item, group_by)
    field = _count_field(item, name_field)
    return key, _count(item[field], field), item


def _items(data: Any, group_by: str) -> list[CountItem]:
    if isinstance(data, list):
        return [_item(item, group_by) for item in data]
    if isinstance(data, dict) and all(_is_number(v) for v in data.values()):
        return [(str(key), _count(value, str(key)), {key: value}) for key, value in data.items()]
    if isinstance(data, dict) and any(_is_number(v) for v in data.values()):
        return [_item(data, group_by)]  # one item on its own: {"user": "u1", "count": 3}
    raise _Bad(
        f"reply is {_describe(data)}: expected an object of key → count, a list of objects "
        f"each with a key and a count, or either under {', '.join(COUNT_WRAPPERS)}"
    )


def count_rows(reply: Any, day: date, group_by: str) -> list[CountItem] | str:
    """The counts of one `/icenter/executions` reply for one `day`, or why it has none.

    `day` is not used to parse; it names the reply in the error line. A key listed
    twice is an error, not a sum: the reply would contradict itself.
    """
    try:
        items = _items(_unwrap(reply, COUNT_WRAPPERS), group_by.strip())
    except _Bad as exc:
        return f"execution counts for {day.isoformat()} by {group_by.strip()}: {exc}"
    seen: set[str] = set()
    for key, _, _ in items:
        if key in seen:
            return f"execution counts for {day.isoformat()} by {group_by.strip()}: key {key[:60]!r} appears twice"
        seen.add(key)
    return items


def count_table_rows(reply: Any, day: date, group_by: str) -> list[dict[str, Any]] | str:
    """`count_rows` as `flow_execution_counts` rows (raw kept per item), or the reason."""
    items = count_rows(reply, day, group_by)
    if isinstance(items, str):
        return items
    rows: list[dict[str, Any]] = []
    for key, count, raw in items:
        try:
            fragment = json_fragment(raw)
        except Unstorable as exc:
            return f"execution counts for {day.isoformat()}: item {key[:60]!r} cannot be stored as JSON: {exc}"
        rows.append({"day": day, "group_by": group_by.strip(), "key": key, "count": count, "raw": fragment})
    return rows


# --- logs -----------------------------------------------------------------------


def log_entries(reply: Any) -> list[Any] | str:
    """The entries of one `/logs` reply: a list at the top or under a wrapper; else why not."""
    try:
        data = _unwrap(reply, LOG_WRAPPERS)
    except _Bad as exc:
        return f"logs: {exc}"
    if isinstance(data, list):
        return data
    wrappers = ", ".join(LOG_WRAPPERS)
    return f"logs: reply is {_describe(data)}: expected a list of entries, at the top or under {wrappers}"


def log_id(entry: Any) -> str:
    """The key of a log entry: its own id, else a hash of its content.

    Total, so the errors read can be matched to the plain one even for entries that
    `log_row` will reject (a bad id falls back to the hash here; `log_row` says why).
    """
    if isinstance(entry, dict):
        found = _first(entry, _ID_FIELDS)
        if found is not None and isinstance(found[1], str | int) and not isinstance(found[1], bool) and found[1] != "":
            return str(found[1])
    return content_id(entry)


def _entry_id(entry: dict[str, Any]) -> str:
    found = _first(entry, _ID_FIELDS)
    if found is None:
        return content_id(entry)
    value = _text(found[1], found[0])
    if not value:
        raise _Bad(f"{found[0]} is empty")
    return value


def _epoch(value: float, name: str) -> datetime:
    """Epoch seconds, or milliseconds when too large to be seconds; exact for integers."""
    try:
        if abs(value) > _EPOCH_MS_ABOVE:
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    except OverflowError:
        raise _Bad(f"{name} {value!r} is out of range") from None


def _time(entry: dict[str, Any]) -> datetime | None:
    """The entry's time, if it has one: ISO-8601 with a zone, a bare date (UTC midnight),
    or epoch seconds or milliseconds. A time without a zone is refused, not guessed."""
    found = _first(entry, _TIME_FIELDS)
    if found is None:
        return None
    name, value = found
    if _is_number(value):
        if not math.isfinite(value):
            raise _Bad(f"{name} is {value!r}, expected a time")
        return _epoch(value, name)
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        except ValueError:
            pass
    try:
        return parse_entry_time(value)
    except ValueError as exc:
        raise _Bad(str(exc).replace("createdAt", name, 1)) from None


def log_row(entry: Any, tenant: str, is_error: bool) -> dict[str, Any] | str:
    """One log entry → a `flow_logs` row, or the reason it cannot be stored."""
    if not isinstance(entry, dict):
        return f"log entry is {_describe(entry)}, expected an object"
    try:
        flow = _first(entry, _FLOW_FIELDS)
        step = _first(entry, _STEP_FIELDS)
        row: dict[str, Any] = {
            "id": _entry_id(entry),
            "tenant": tenant,
            "flow_id": None if flow is None else _text(flow[1], flow[0]),
            "step_id": None if step is None else _text(step[1], step[0]),
            "created_at": _time(entry),
            "is_error": is_error,
        }
        row["raw"] = json_fragment(entry)
    except _Bad as exc:
        return f"log entry: {exc}"
    except Unstorable as exc:
        return f"log entry cannot be stored as JSON: {exc}"
    return row


def merge_error_reads(plain: Iterable[Any], errors: Iterable[Any]) -> list[tuple[Any, bool]]:
    """The plain read and the `showErrors=true` read as one list of (entry, is_error).

    An entry is an error when the errors read holds it (matched by `log_id`). Error
    entries the plain read missed (it may have been taken a moment earlier) are added;
    each id appears once, first copy kept.
    """
    error_list = list(errors)
    error_ids = {log_id(entry) for entry in error_list}
    merged: dict[str, tuple[Any, bool]] = {}
    for entry in plain:
        merged.setdefault(log_id(entry), (entry, False))
    for key in error_ids:
        if key in merged:
            merged[key] = (merged[key][0], True)
    for entry in error_list:
        merged.setdefault(log_id(entry), (entry, True))
    return list(merged.values())
