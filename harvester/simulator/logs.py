"""One UTC day of one log stream, generated on demand and kept pre-serialised.

A `DayBlock` holds a day's entries sorted ascending by (createdAt, id) in parallel
lists: the sort key, the project id (for the `projectIds` filter) and the entry's
wire JSON as bytes. Serving a page is then a bisect and a `b",".join`, which is
what lets one process serve well over 100k entries a second; nothing is ever
re-encoded on the hot path.

Entries are built from string templates rather than `orjson.dumps(dict)` because
generation is the other half of the cost; every value put into a template is a
hex id, a number, a bool or a word from a fixed list, so no escaping is needed.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate

import orjson

from ..timeutil import format_wire
from .entities import Member, Project
from .rand import day_prefix, derive_rng, wire_times

__all__ = [
    "BAD_VARIANTS",
    "DayBlock",
    "LogContext",
    "generate_block",
    "make_entry",
]

_DAY_MS = 86_400_000
_ORG_EVENTS = ["createProject", "deleteProject", "createFolder", "renameFolder", "addUser", "removeUser",
               "addRole", "removeRole", "updateOrganization"]
_ORG_ENTITY = {"createProject": "project", "deleteProject": "project", "createFolder": "folder",
               "renameFolder": "folder", "addUser": "member", "removeUser": "member", "addRole": "role",
               "removeRole": "role", "updateOrganization": "organization"}
_PROJECT_EVENTS = ["createBuild", "createTable", "updateRow", "updateRow", "updateRow", "insertRow", "deleteRow",
                   "executeQuery", "executeQuery", "uploadFile", "updateStage", "createStage", "addRole"]
_AUTH_STATUS = ["success"] * 8 + ["invalid_password", "invalid_code", "expired_code", "user_not_found",
                                   "too_many_attempts"]
_AUTH_METHODS = ["email_code", "email_code", "password", "google"]
_EMAIL_KINDS = ["login_code", "login_code", "task_assigned", "custom", "custom:mock", "login_code:mock",
                "received"]
_SOURCES = ["app", "editor", "ai", "api"]
_SOURCE_WEIGHTS = [60, 15, 10, 15]
_CONNECTORS = [("slack", "send_message"), ("slack", "list_channels"), ("google-sheets", "append_row"),
               ("google-sheets", "read_range"), ("hubspot", "create_contact"), ("postgres", "run_query"),
               ("stripe", "list_charges"), ("gmail", "send_email")]
_MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4", "gemini-2.5-flash"]
_WEEKDAY_FACTOR = [1.24, 1.24, 1.24, 1.24, 1.24, 0.4, 0.4]  # averages to 1.0 over a week

BAD_VARIANTS = ("missing_created_at", "naive_created_at", "list_id", "string_entry", "number_entry")


@dataclass(frozen=True)
class LogContext:
    """What a generator needs from the organization; built once, shared by all days."""

    seed: int
    history_start: datetime
    history_end: datetime
    events_per_day: dict[str, float]
    projects: Sequence[Project]
    members: Sequence[Member]
    malformed_rate: float
    missing_id_rate: float
    project_ids: list[str] = field(init=False)
    cum_weights: list[float] = field(init=False)
    author_ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "project_ids", [p.id for p in self.projects])
        object.__setattr__(self, "cum_weights", list(accumulate(p.weight for p in self.projects)))
        object.__setattr__(self, "author_ids", [m.author_id for m in self.members])


@dataclass
class DayBlock:
    """A day's entries, ascending by key = createdAt + id (both fixed width).

    `good` maps the key of each malformed entry to the well-formed entry it replaced,
    so filters and ground truth can still see the underlying values.
    """

    keys: list[str] = field(default_factory=list)
    pids: list[str | None] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    good: dict[str, bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def insert(self, key: str, pid: str | None, blob: bytes) -> None:
        """Add one live entry in order (an injected arrival)."""
        i = bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.pids.insert(i, pid)
        self.blobs.insert(i, blob)


# --- per-stream bodies: everything after `"createdAt":"..."`, and the project id ---

Bodies = tuple[list[str | None], list[str]]


def _pids(rng: random.Random, ctx: LogContext, n: int) -> list[str]:
    return rng.choices(ctx.project_ids, cum_weights=ctx.cum_weights, k=n)


def _org_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    authors = rng.choices(ctx.author_ids, k=n)
    events = rng.choices(_ORG_EVENTS, k=n)
    bits = rng.getrandbits
    bodies = [f',"authorId":"{a}","event":"{e}","entityType":"{_ORG_ENTITY[e]}","entityId":"{bits(96):024x}"}}'
              for a, e in zip(authors, events, strict=True)]
    return [None] * n, bodies


def _project_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    authors = rng.choices(ctx.author_ids, k=n)
    events = rng.choices(_PROJECT_EVENTS, k=n)
    bits = rng.getrandbits
    bodies = [f',"projectId":"{p}","authorId":"{a}","event":"{e}","entityId":"{bits(96):024x}"}}'
              for p, a, e in zip(pids, authors, events, strict=True)]
    return list(pids), bodies


def _auth_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    statuses = rng.choices(_AUTH_STATUS, k=n)
    methods = rng.choices(_AUTH_METHODS, k=n)
    r = rng.getrandbits
    bodies = [f',"projectId":"{p}","email":"user{r(9)}@example.com","status":"{s}","method":"{m}",'
              f'"ip":"10.{r(8)}.{r(8)}.{r(8)}"}}'
              for p, s, m in zip(pids, statuses, methods, strict=True)]
    return list(pids), bodies


def _email_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    kinds = rng.choices(_EMAIL_KINDS, k=n)
    r = rng.getrandbits
    bodies = [f',"projectId":"{p}","email":"user{r(9)}@example.com","kind":"{k}","subject":"Message {r(14)}"}}'
              for p, k in zip(pids, kinds, strict=True)]
    return list(pids), bodies


def _authors_or_null(rng: random.Random, ctx: LogContext, sources: list[str]) -> list[str]:
    authors = rng.choices(ctx.author_ids, k=len(sources))
    return ["null" if s == "app" else f'"{a}"' for a, s in zip(authors, sources, strict=True)]


def _connector_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    sources = rng.choices(_SOURCES, weights=_SOURCE_WEIGHTS, k=n)
    authors = _authors_or_null(rng, ctx, sources)
    conns = rng.choices(_CONNECTORS, k=n)
    rnd = rng.random
    bodies = [f',"projectId":"{p}","authorId":{a},"source":"{s}","errored":{"true" if rnd() < 0.07 else "false"},'
              f'"connectorName":"{c[0]}","actionName":"{c[1]}","durationMs":{20 + int(rnd() * 2980)}}}'
              for p, a, s, c in zip(pids, authors, sources, conns, strict=True)]
    return list(pids), bodies


def _ai_bodies(rng: random.Random, ctx: LogContext, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    sources = rng.choices(_SOURCES, weights=_SOURCE_WEIGHTS, k=n)
    authors = _authors_or_null(rng, ctx, sources)
    models = rng.choices(_MODELS, k=n)
    rnd = rng.random
    bodies = [f',"projectId":"{p}","authorId":{a},"source":"{s}","errored":{"true" if rnd() < 0.04 else "false"},'
              f'"model":"{m}","promptTokens":{20 + int(rnd() * 3980)},"completionTokens":{5 + int(rnd() * 1495)}}}'
              for p, a, s, m in zip(pids, authors, sources, models, strict=True)]
    return list(pids), bodies


_BODIES: dict[str, Callable[[random.Random, LogContext, int], Bodies]] = {
    "organization_action_logs": _org_bodies,
    "project_action_logs": _project_bodies,
    "auth_attempt_logs": _auth_bodies,
    "email_notification_logs": _email_bodies,
    "connector_action_logs": _connector_bodies,
    "ai_prompt_logs": _ai_bodies,
}


def _day_count(rng: random.Random, mean: float, day: date) -> int:
    expected = mean * _WEEKDAY_FACTOR[day.weekday()] * rng.uniform(0.75, 1.25)
    whole = int(expected)
    return whole + (rng.random() < expected - whole)


def _times(rng: random.Random, n: int) -> list[int]:
    """Millisecond offsets into the day: uniform, plus deliberate edge cases.

    Some days start with entries at exactly 00:00:00.000 (the boundary shared by two
    inclusive windows) and about 2% of entries share a timestamp with a neighbour, so
    keyset paging must break ties on the id.
    """
    rnd = rng.random
    ms = sorted(int(rnd() * _DAY_MS) for _ in range(n))  # sorted: the keys then sort in linear time
    if n and rnd() < 0.6:
        for i in range(min(n, rng.randint(1, 3))):
            ms[i] = 0
    for i in range(1, n):
        if rnd() < 0.02:
            ms[i] = ms[i - 1]
    return ms


def _bad_variant(rng: random.Random, good: bytes, created: str) -> bytes:
    kind = rng.choice(BAD_VARIANTS)
    if kind == "string_entry":
        return b'"entry unavailable"'
    if kind == "number_entry":
        return b"42"
    entry = orjson.loads(good)
    if kind == "missing_created_at":
        del entry["createdAt"]
    elif kind == "naive_created_at":
        entry["createdAt"] = created[:19]  # no fraction, no zone
    else:
        entry["id"] = [entry["id"]]
    return orjson.dumps(entry)


def _without_id(blob: bytes) -> bytes:
    entry = orjson.loads(blob)
    del entry["id"]
    return orjson.dumps(entry)


def generate_block(ctx: LogContext, stream: str, day: date) -> DayBlock:
    """The day's entries, clipped to the history `[start, end)`; the same every call."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=ctx.history_start.tzinfo)
    if day_start >= ctx.history_end or day_start + timedelta(days=1) <= ctx.history_start:
        return DayBlock()
    rng = derive_rng(ctx.seed, "log", stream, day.isoformat())
    n = _day_count(rng, ctx.events_per_day.get(stream, 0.0), day)
    prefix = day_prefix(day)
    created = wire_times(prefix, _times(rng, n))
    bits = rng.getrandbits
    ids = [f"{bits(96):024x}" for _ in range(n)]
    pids, bodies = _BODIES[stream](rng, ctx, n)
    lo, hi = format_wire(ctx.history_start), format_wire(ctx.history_end)
    rows = sorted(
        (c + i, p, f'{{"id":"{i}","createdAt":"{c}"{b}'.encode())
        for c, i, p, b in zip(created, ids, pids, bodies, strict=True)
        if lo <= c < hi
    )
    block = DayBlock([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    _spoil(ctx, stream, day, block)
    return block


def _spoil(ctx: LogContext, stream: str, day: date, block: DayBlock) -> None:
    """Replace a deterministic fraction of entries with bad or id-less variants.

    Separate RNGs, so turning the rates up or down never changes the good data.
    """
    if ctx.malformed_rate > 0:
        rng = derive_rng(ctx.seed, "malformed", stream, day.isoformat())
        for i, key in enumerate(block.keys):
            if rng.random() < ctx.malformed_rate:
                block.good[key] = block.blobs[i]
                block.blobs[i] = _bad_variant(rng, block.blobs[i], key[:24])
    if ctx.missing_id_rate > 0:
        rng = derive_rng(ctx.seed, "missing_id", stream, day.isoformat())
        for i, key in enumerate(block.keys):
            if rng.random() < ctx.missing_id_rate and key not in block.good:
                block.blobs[i] = _without_id(block.blobs[i])


def make_entry(
    ctx: LogContext, stream: str, rng: random.Random, created: str, project_id: str | None
) -> tuple[str, str | None, bytes]:
    """One live entry (key, project id, wire JSON) for `inject`."""
    pids, bodies = _BODIES[stream](rng, ctx, 1)
    body = bodies[0]
    pid = pids[0]
    if project_id is not None and pid is not None:
        body = body.replace(f'"projectId":"{pid}"', f'"projectId":"{project_id}"')
        pid = project_id
    entry_id = f"{rng.getrandbits(96):024x}"
    return created + entry_id, pid, f'{{"id":"{entry_id}","createdAt":"{created}"{body}'.encode()
