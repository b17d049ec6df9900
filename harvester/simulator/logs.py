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
from .roster import DayRoster, MemberEvent, Rosters

__all__ = [
    "BAD_VARIANTS",
    "DayBlock",
    "LogContext",
    "generate_block",
    "make_entry",
]

_DAY_MS = 86_400_000
# addUser and removeUser are not drawn at random: they mark the roster's joins and departures
_ORG_EVENTS = ["createProject", "deleteProject", "createFolder", "renameFolder", "addRole", "removeRole",
               "updateOrganization"]
_ORG_ENTITY = {"createProject": "project", "deleteProject": "project", "createFolder": "folder",
               "renameFolder": "folder", "addUser": "member", "removeUser": "member", "addRole": "role",
               "removeRole": "role", "updateOrganization": "organization"}
_PROJECT_EVENTS = ["createBuild", "createTable", "updateRow", "updateRow", "updateRow", "insertRow", "deleteRow",
                   "executeQuery", "executeQuery", "uploadFile", "updateStage", "createStage", "addRole"]
_MEMBER_FAILURES = ["invalid_code", "invalid_code", "expired_code", "invalid_password", "too_many_attempts"]
_OUTSIDER_STATUS = ["user_not_found", "user_not_found", "invalid_password", "too_many_attempts"]
_OUTSIDER_SHARE = 0.08
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
    rosters: Rosters = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "project_ids", [p.id for p in self.projects])
        object.__setattr__(self, "cum_weights", list(accumulate(p.weight for p in self.projects)))
        object.__setattr__(self, "rosters", Rosters(self.seed, self.members, self.projects))


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
# Authors and login emails come from the day's roster: members act only in the
# projects of their folders, and only while they are members (see roster.py).

Bodies = tuple[list[str | None], list[str]]


def _pids(rng: random.Random, ctx: LogContext, n: int) -> list[str]:
    return rng.choices(ctx.project_ids, cum_weights=ctx.cum_weights, k=n)


def _org_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    authors = rng.choices(roster.members, k=n)
    events = rng.choices(_ORG_EVENTS, k=n)
    bits = rng.getrandbits
    bodies = [f',"authorId":"{a.author_id}","event":"{e}","entityType":"{_ORG_ENTITY[e]}",'
              f'"entityId":"{bits(96):024x}"}}'
              for a, e in zip(authors, events, strict=True)]
    return [None] * n, bodies


def _member_event_body(admin: Member, event: MemberEvent) -> str:
    m = event.member
    return (f',"authorId":"{admin.author_id}","event":"{event.event}","entityType":"member",'
            f'"entityId":"{m.id}","email":"{m.email}"}}')


def _project_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    events = rng.choices(_PROJECT_EVENTS, k=n)
    bits, choice, by_project = rng.getrandbits, rng.choice, roster.by_project
    bodies = [f',"projectId":"{p}","authorId":"{choice(by_project[p]).author_id}","event":"{e}",'
              f'"entityId":"{bits(96):024x}"}}'
              for p, e in zip(pids, events, strict=True)]
    return list(pids), bodies


def _login(rng: random.Random, roster: DayRoster, pid: str) -> tuple[str, str]:
    """(email, status) of one attempt: mostly a member of the project, else an outsider."""
    if rng.random() < _OUTSIDER_SHARE:
        return rng.choice(roster.outsiders), rng.choice(_OUTSIDER_STATUS)
    email = rng.choice(roster.by_project[pid]).email
    failed = rng.random() < roster.failure_rate[email]
    return email, rng.choice(_MEMBER_FAILURES) if failed else "success"


def _auth_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    methods = rng.choices(_AUTH_METHODS, k=n)
    r = rng.getrandbits
    bodies = []
    for p, m in zip(pids, methods, strict=True):
        email, status = _login(rng, roster, p)
        bodies.append(f',"projectId":"{p}","email":"{email}","status":"{status}","method":"{m}",'
                      f'"ip":"10.{r(8)}.{r(8)}.{r(8)}"}}')
    return list(pids), bodies


def _recipient(rng: random.Random, roster: DayRoster, pid: str, kind: str) -> str:
    """Login codes go to the project's members; other mail half to members, half to customers."""
    if kind.startswith("login_code") or rng.random() < 0.5:
        return rng.choice(roster.by_project[pid]).email
    return f"customer{rng.getrandbits(9)}@example.com"


def _email_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    kinds = rng.choices(_EMAIL_KINDS, k=n)
    r = rng.getrandbits
    bodies = [f',"projectId":"{p}","email":"{_recipient(rng, roster, p, k)}","kind":"{k}",'
              f'"subject":"Message {r(14)}"}}'
              for p, k in zip(pids, kinds, strict=True)]
    return list(pids), bodies


def _authors_or_null(rng: random.Random, roster: DayRoster, pids: list[str], sources: list[str]) -> list[str]:
    choice, by_project = rng.choice, roster.by_project
    return ["null" if s == "app" else f'"{choice(by_project[p]).author_id}"'
            for p, s in zip(pids, sources, strict=True)]


def _connector_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    sources = rng.choices(_SOURCES, weights=_SOURCE_WEIGHTS, k=n)
    authors = _authors_or_null(rng, roster, pids, sources)
    conns = rng.choices(_CONNECTORS, k=n)
    rnd = rng.random
    bodies = [f',"projectId":"{p}","authorId":{a},"source":"{s}","errored":{"true" if rnd() < 0.07 else "false"},'
              f'"connectorName":"{c[0]}","actionName":"{c[1]}","durationMs":{20 + int(rnd() * 2980)}}}'
              for p, a, s, c in zip(pids, authors, sources, conns, strict=True)]
    return list(pids), bodies


def _ai_bodies(rng: random.Random, ctx: LogContext, roster: DayRoster, n: int) -> Bodies:
    pids = _pids(rng, ctx, n)
    sources = rng.choices(_SOURCES, weights=_SOURCE_WEIGHTS, k=n)
    authors = _authors_or_null(rng, roster, pids, sources)
    models = rng.choices(_MODELS, k=n)
    rnd = rng.random
    bodies = [f',"projectId":"{p}","authorId":{a},"source":"{s}","errored":{"true" if rnd() < 0.04 else "false"},'
              f'"model":"{m}","promptTokens":{20 + int(rnd() * 3980)},"completionTokens":{5 + int(rnd() * 1495)}}}'
              for p, a, s, m in zip(pids, authors, sources, models, strict=True)]
    return list(pids), bodies


_BODIES: dict[str, Callable[[random.Random, LogContext, DayRoster, int], Bodies]] = {
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
    pids, bodies = _BODIES[stream](rng, ctx, ctx.rosters.for_day(day), n)
    if stream == "organization_action_logs":
        _add_member_events(ctx, day, created, ids, pids, bodies)
    lo, hi = format_wire(ctx.history_start), format_wire(ctx.history_end)
    rows = sorted(
        (c + i, p, f'{{"id":"{i}","createdAt":"{c}"{b}'.encode())
        for c, i, p, b in zip(created, ids, pids, bodies, strict=True)
        if lo <= c < hi
    )
    block = DayBlock([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    _spoil(ctx, stream, day, block)
    return block


def _add_member_events(
    ctx: LogContext, day: date, created: list[str], ids: list[str], pids: list[str | None], bodies: list[str]
) -> None:
    """Append the day's `addUser`/`removeUser` entries (ids from their own RNG)."""
    for event in ctx.rosters.events_on(day):
        created.append(event.created_at)
        ids.append(f"{derive_rng(ctx.seed, 'member-event', event.event, event.member.id).getrandbits(96):024x}")
        pids.append(None)
        bodies.append(_member_event_body(ctx.rosters.admin, event))


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
    roster = ctx.rosters.for_day(date.fromisoformat(created[:10]))
    pids, bodies = _BODIES[stream](rng, ctx, roster, 1)
    body = bodies[0]
    pid = pids[0]
    if project_id is not None and pid is not None:
        body = body.replace(f'"projectId":"{pid}"', f'"projectId":"{project_id}"')
        pid = project_id
    entry_id = f"{rng.getrandbits(96):024x}"
    return created + entry_id, pid, f'{{"id":"{entry_id}","createdAt":"{created}"{body}'.encode()
