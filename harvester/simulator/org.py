"""The synthetic organization: what the server serves and what tests compare against.

History is generated lazily per (stream, UTC day) and per (project, day), kept in a
small LRU bounded by entry count, so a million-entry organization serves with flat
memory. Live changes (injected arrivals, added or removed members, removed projects)
live in small overlays on top of the deterministic history. The same object answers
the server and the ground-truth queries, so the two can never disagree.

Thread safety: the server may run in a background thread while a test injects
entries from the main thread, so every access to the cache and overlays holds one
re-entrant lock.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..timeutil import floor_day, format_wire, utc_now
from .activity import (
    COUNTER_METRICS,
    GAUGE_METRICS,
    Execution,
    consumption_day,
    generate_executions,
    make_execution,
    nest_metrics,
)
from .config import LOG_STREAMS, SimConfig
from .entities import (
    INVENTORY_ACTIONS,
    Folder,
    Member,
    Project,
    build_folders,
    build_members,
    build_projects,
    inventory_for,
    member_json,
)
from .logs import DayBlock, LogContext, generate_block, make_entry
from .rand import derive_rng, hex_id, uuid_like
from .truth import dump_ground_truth

__all__ = ["Accept", "Org", "SimConfig"]

_ONE_DAY = timedelta(days=1)

Accept = Callable[[DayBlock, int], bool]


def _days(start: datetime, end: datetime) -> Iterator[date]:
    """UTC days touching the half-open `[start, end)`."""
    day = floor_day(start)
    while day < end:
        yield day.date()
        day += _ONE_DAY


class Org:
    """A deterministic organization built from a `SimConfig`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock: datetime | None = config.clock  # set it to move "now" in tests
        self._lock = threading.RLock()
        self._history = (config.history_start, config.end)
        self.folders: list[Folder] = build_folders(config.seed, config.folders)
        self.initial_projects: list[Project] = build_projects(
            config.seed, config.projects, self.folders, config.history_start
        )
        # everyone who was a member during the history, former members included
        self.initial_members: list[Member] = build_members(config.seed, config.members, self.folders, self._history)
        self._projects: dict[str, Project] = {p.id: p for p in self.initial_projects}
        self._members: dict[str, Member] = {m.email: m for m in self.initial_members if m.left_at is None}
        self._ctx = LogContext(
            seed=config.seed,
            history_start=config.history_start,
            history_end=config.end,
            events_per_day=config.events_per_day,
            projects=self.initial_projects,
            members=self.initial_members,
            malformed_rate=config.malformed_rate,
            missing_id_rate=config.missing_id_rate,
        )
        self._cache: OrderedDict[tuple[str, str, date], tuple[Any, int]] = OrderedDict()
        self._cache_size = 0
        self._log_overlay: defaultdict[tuple[str, date], list[tuple[str, str | None, bytes]]] = defaultdict(list)
        self._exec_overlay: defaultdict[tuple[str, date], list[Execution]] = defaultdict(list)
        self._injections = 0

    # --- clock, entities -------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's "now": the fixed `clock` if set, else real time."""
        return self.clock if self.clock is not None else utc_now()

    @property
    def projects(self) -> list[Project]:
        """Current projects, in creation order."""
        with self._lock:
            return list(self._projects.values())

    def project(self, project_id: str) -> Project:
        with self._lock:
            try:
                return self._projects[project_id]
            except KeyError:
                raise ValueError(f"Project '{project_id}' not found") from None

    def organization(self) -> dict[str, Any]:
        """`get_organization`'s data."""
        with self._lock:
            projects = list(self._projects.values())
        return {
            "folders": [
                {
                    "id": f.id,
                    "name": f.name,
                    "projects": [
                        {"id": p.id, "name": p.name, "createdAt": p.created_at} for p in projects if p.folder_id == f.id
                    ],
                }
                for f in self.folders
            ]
        }

    def members(self) -> list[dict[str, Any]]:
        """`get_members`'s data."""
        with self._lock:
            return [member_json(m) for m in self._members.values()]

    def inventory(self, action: str, project_id: str) -> dict[str, Any]:
        """The data of one per-project inventory action (`list_project_tables`, ...)."""
        if action not in INVENTORY_ACTIONS:
            raise KeyError(action)
        return inventory_for(self.config.seed, action, self.project(project_id))

    def add_member(self, email: str, folder_ids: list[str] | None = None) -> dict[str, Any]:
        known = {f.id for f in self.folders}
        for fid in folder_ids or []:
            if fid not in known:
                raise ValueError(f"Folder '{fid}' not found")
        with self._lock:
            if email in self._members:
                raise ValueError(f"Member '{email}' already exists")
            rng = derive_rng(self.config.seed, "added-member", email, len(self._members))
            member = Member(hex_id(rng), uuid_like(rng), email, tuple(folder_ids or ()))
            self._members[email] = member
            self._log_member_event("addUser", member)
        return member_json(member)

    def remove_member(self, email: str) -> dict[str, Any]:
        with self._lock:
            member = self._members.pop(email, None)
            if member is not None:
                self._log_member_event("removeUser", member)
        if member is None:
            raise ValueError(f"Member '{email}' not found")
        return member_json(member)

    def _log_member_event(self, event: str, member: Member) -> None:
        """The organization log entry of a live `add_member`/`remove_member`, stamped now.

        Built with orjson, not the generators' templates: the email is the caller's text."""
        created = format_wire(self.now())
        self._injections += 1
        entry_id = hex_id(derive_rng(self.config.seed, "member-event", self._injections))
        admin = self._ctx.rosters.admin
        blob = orjson.dumps({"id": entry_id, "createdAt": created, "authorId": admin.author_id, "event": event,
                             "entityType": "member", "entityId": member.id, "email": member.email})
        self._add_log_entry("organization_action_logs", created + entry_id, None, blob)

    def _add_log_entry(self, stream: str, key: str, pid: str | None, blob: bytes) -> None:
        """Put one live entry in the overlay and in its day's cached block, if any (lock held)."""
        day = date.fromisoformat(key[:10])
        self._log_overlay[(stream, day)].append((key, pid, blob))
        cached = self._cache.get(("log", stream, day))
        if cached is not None:
            cached[0].insert(key, pid, blob)

    def remove_project(self, project_id: str) -> None:
        """Drop a project from the organization; its past log entries stay."""
        with self._lock:
            if self._projects.pop(project_id, None) is None:
                raise ValueError(f"Project '{project_id}' not found")

    # --- the lazy cache --------------------------------------------------------

    @property
    def cached_entries(self) -> int:
        """Generated entries held in memory now; stays within `config.cache_entries`
        (one oversized day may exceed it alone)."""
        return self._cache_size

    def _cached(self, key: tuple[str, str, date], build: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit[0]
        value = build()
        size = max(1, len(value))
        self._cache[key] = (value, size)
        self._cache_size += size
        while self._cache_size > self.config.cache_entries and len(self._cache) > 1:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._cache_size -= dropped
        return value

    def _build_block(self, stream: str, day: date) -> DayBlock:
        block = generate_block(self._ctx, stream, day)
        for key, pid, blob in self._log_overlay.get((stream, day), ()):
            block.insert(key, pid, blob)
        return block

    def log_block(self, stream: str, day: date) -> DayBlock:
        with self._lock:
            block: DayBlock = self._cached(("log", stream, day), lambda: self._build_block(stream, day))
            return block

    def _build_executions(self, project: Project, day: date) -> list[Execution]:
        out = generate_executions(
            self.config.seed, project, day, self.config.executions_per_project_per_day, self._history
        )
        for ex in self._exec_overlay.get((project.id, day), ()):
            insort(out, ex, key=lambda e: (e.created_at, e.id))
        return out

    def _execution_day(self, project: Project, day: date) -> list[Execution]:
        with self._lock:
            found: list[Execution] = self._cached(
                ("exec", project.id, day), lambda: self._build_executions(project, day)
            )
            return found

    # --- serving ---------------------------------------------------------------

    def page_logs(
        self, stream: str, lo_wire: str, upper_key: str, limit: int, accept: Accept | None
    ) -> tuple[list[bytes], str | None, bool]:
        """Up to `limit` entries with `lo_wire <= createdAt` and key < `upper_key`, newest first.

        Returns (wire entries, key of the last one, whether more follow). The lookahead
        for "more" may generate older days; it stops at the first further entry.
        """
        with self._lock:  # an injection from another thread must not shift a block mid-read
            return self._page_logs(stream, lo_wire, upper_key, limit, accept)

    def _page_logs(
        self, stream: str, lo_wire: str, upper_key: str, limit: int, accept: Accept | None
    ) -> tuple[list[bytes], str | None, bool]:
        out: list[bytes] = []
        last: str | None = None
        lo_day = date.fromisoformat(lo_wire[:10])
        day = date.fromisoformat(upper_key[:10])
        while day >= lo_day:
            block = self.log_block(stream, day)
            keys = block.keys
            hi_i = bisect_left(keys, upper_key)
            lo_i = bisect_left(keys, lo_wire) if day == lo_day else 0
            if hi_i > lo_i:
                if len(out) == limit:
                    if accept is None or any(accept(block, i) for i in range(hi_i - 1, lo_i - 1, -1)):
                        return out, last, True
                elif accept is None:
                    start = max(lo_i, hi_i - (limit - len(out)))
                    chunk = block.blobs[start:hi_i]
                    chunk.reverse()
                    out.extend(chunk)
                    last = keys[start]
                    if len(out) == limit and start > lo_i:
                        return out, last, True
                else:
                    for i in range(hi_i - 1, lo_i - 1, -1):
                        if accept(block, i):
                            if len(out) == limit:
                                return out, last, True
                            out.append(block.blobs[i])
                            last = keys[i]
            day -= _ONE_DAY
        return out, last, False

    def executions_between(self, project_id: str, lo_wire: str, hi_wire: str) -> list[Execution]:
        """A project's executions with lo <= createdAt <= hi, newest first."""
        project = self.project(project_id)
        lo, hi = datetime.fromisoformat(lo_wire), datetime.fromisoformat(hi_wire)
        with self._lock:
            out = [
                ex
                for day in _days(lo, hi + timedelta(milliseconds=1))
                for ex in self._execution_day(project, day)
                if lo_wire <= ex.created_at <= hi_wire
            ]
        out.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return out

    def consumption(self, project_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`get_project_consumption`'s data: counters summed, gauges at the last day.

        The days counted are those whose midnight lies in `[start, end)`.
        """
        project = self.project(project_id)
        total: dict[str, float] = {name: 0 for name in (*GAUGE_METRICS, *COUNTER_METRICS)}
        day = floor_day(start)
        if day < start:
            day += _ONE_DAY
        while day < end:
            metrics = consumption_day(self.config.seed, project, day.date(), self._history)
            for name in GAUGE_METRICS:
                total[name] = metrics[name]
            for name in COUNTER_METRICS:
                total[name] = round(total[name] + metrics[name], 3)
            day += _ONE_DAY
        return {"projectId": project_id, "from": format_wire(start), "to": format_wire(end), **nest_metrics(total)}

    # --- live data -------------------------------------------------------------

    def inject(
        self,
        stream: str,
        count: int = 1,
        created_at: datetime | None = None,
        project_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Add live entries (log streams or "executions"); returns them as served.

        Executions come back with an extra `projectId` key (not on the wire).
        """
        when = created_at if created_at is not None else self.now()
        created = format_wire(when if when.tzinfo is not None else when.replace(tzinfo=UTC))
        day = date.fromisoformat(created[:10])
        with self._lock:
            self._injections += 1
            rng = derive_rng(self.config.seed, "inject", self._injections)
            if stream == "executions":
                return [self._inject_execution(rng, created, day, project_id) for _ in range(count)]
            if stream not in LOG_STREAMS:
                raise ValueError(f"unknown stream {stream!r}")
            out = []
            for _ in range(count):
                key, pid, blob = make_entry(self._ctx, stream, rng, created, project_id)
                self._add_log_entry(stream, key, pid, blob)
                out.append(orjson.loads(blob))
            return out

    def _inject_execution(self, rng: Any, created: str, day: date, project_id: str | None) -> dict[str, Any]:
        project = self.project(project_id) if project_id is not None else rng.choice(list(self._projects.values()))
        ex = make_execution(self.config.seed, project, rng, created)
        self._exec_overlay[(project.id, day)].append(ex)
        cached = self._cache.get(("exec", project.id, day))
        if cached is not None:
            insort(cached[0], ex, key=lambda e: (e.created_at, e.id))
        return {**ex.to_json(self.now()), "projectId": project.id}

    # --- ground truth ----------------------------------------------------------

    def _walk(self, stream: str, start: datetime, end: datetime) -> Iterator[tuple[bytes, bool]]:
        """(wire entry, is malformed) in `[start, end)`, newest first."""
        lo, hi = format_wire(start), format_wire(end)
        for day in reversed(list(_days(start, end))):
            with self._lock:
                block = self.log_block(stream, day)
                found = [
                    (block.blobs[i], block.keys[i] in block.good)
                    for i in range(len(block) - 1, -1, -1)
                    if lo <= block.keys[i][:24] < hi
                ]
            yield from found

    def log_entries(self, stream: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Well-formed entries with start <= createdAt < end, all projects, newest first.

        Includes entries served without an `id` (`missing_id_rate`); excludes malformed ones.
        """
        for blob, malformed in self._walk(stream, start, end):
            if not malformed:
                yield orjson.loads(blob)

    def malformed_entries(self, stream: str, start: datetime, end: datetime) -> Iterator[Any]:
        """The bad variants served in `[start, end)` (placed by the entry they replaced)."""
        for blob, malformed in self._walk(stream, start, end):
            if malformed:
                yield orjson.loads(blob)

    def executions(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Executions of current projects with start <= createdAt < end, status as of now.

        Each carries an extra `projectId` key that the wire does not have.
        """
        lo, hi, clock = format_wire(start), format_wire(end), self.now()
        for project in self.projects:
            for day in _days(start, end):
                with self._lock:
                    found = [ex for ex in self._execution_day(project, day) if lo <= ex.created_at < hi]
                for ex in found:
                    yield {**ex.to_json(clock), "projectId": project.id}

    def consumption_for_day(self, project_id: str, day: date | datetime) -> dict[str, float]:
        """Flattened metrics (`"cpu.seconds"` ...) of one UTC day of a project."""
        if isinstance(day, datetime):
            day = day.astimezone(UTC).date()
        project = self._projects.get(project_id) or next(p for p in self.initial_projects if p.id == project_id)
        return consumption_day(self.config.seed, project, day, self._history)

    def dump_ground_truth(self, path: str | Path, start: datetime, end: datetime) -> int:
        """Write everything in `[start, end)` as JSON lines; returns the line count."""
        return dump_ground_truth(self, path, start, end)
