"""Who is in the organization on a given day, and who may act in which project.

What makes the simulated history coherent: members log in with their own emails,
act only in the projects of their folders, only while they are members (the day
after they join until the day they leave), and a former member's email shows up
afterwards among the failed logins. The organization log carries an `addUser` or
`removeUser` entry at each join and departure.

Membership changes on a handful of days, so one `DayRoster` is built per stretch
between changes, up front, and a day finds its own with a bisect: the log
generators stay lazy and per-day deterministic.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .entities import Member, Project
from .rand import derive_rng

__all__ = ["DayRoster", "MemberEvent", "Rosters", "PROBE_EMAILS"]

# addresses that are not members and try to log in: typos, guesses, credential stuffing
PROBE_EMAILS = ("admin@acme.example", "test@acme.example", "it-helpdesk@acme-support.example",
                "finance@acme.example")


@dataclass(frozen=True)
class DayRoster:
    """The members of one stretch of days and, per project, those whose folders hold it."""

    members: tuple[Member, ...]
    by_project: dict[str, tuple[Member, ...]]
    outsiders: tuple[str, ...]  # emails that fail to log in: probes and former members
    failure_rate: dict[str, float]  # per member email: how often their logins fail


@dataclass(frozen=True)
class MemberEvent:
    """One `addUser` or `removeUser` organization log entry."""

    created_at: str
    event: str
    member: Member


def _day(instant: str | None) -> date | None:
    return None if instant is None else date.fromisoformat(instant[:10])


def _active(member: Member, day: date) -> bool:
    joined, left = _day(member.joined_at), _day(member.left_at)
    return (joined is None or joined < day) and (left is None or day < left)


class Rosters:
    """Every `DayRoster` of the history, built once from the members and projects."""

    def __init__(self, seed: int, members: Sequence[Member], projects: Sequence[Project]) -> None:
        # a joiner acts from the day after joining; a leaver stops on the day of leaving
        starts = {date.fromordinal(d.toordinal() + 1) for m in members if (d := _day(m.joined_at))}
        stops = {d for m in members if (d := _day(m.left_at))}
        self._bounds = sorted(starts | stops)
        firsts = [date.min, *self._bounds]
        rates = {m.email: derive_rng(seed, "login-failures", m.id).uniform(0.02, 0.2) for m in members}
        self._rosters = [self._build(first, members, projects, rates) for first in firsts]
        self.events = sorted(
            [MemberEvent(m.joined_at, "addUser", m) for m in members if m.joined_at is not None]
            + [MemberEvent(m.left_at, "removeUser", m) for m in members if m.left_at is not None],
            key=lambda e: e.created_at,
        )
        self.admin = next(m for m in members if m.joined_at is None and m.left_at is None)

    @staticmethod
    def _build(
        day: date, members: Sequence[Member], projects: Sequence[Project], rates: dict[str, float]
    ) -> DayRoster:
        active = tuple(m for m in members if _active(m, day)) or tuple(members[:1])
        by_project = {p.id: tuple(m for m in active if p.folder_id in m.folders) or active for p in projects}
        former = tuple(m.email for m in members if (left := _day(m.left_at)) is not None and left <= day)
        return DayRoster(active, by_project, PROBE_EMAILS + former, rates)

    def for_day(self, day: date) -> DayRoster:
        return self._rosters[bisect_right(self._bounds, day)]

    def events_on(self, day: date) -> list[MemberEvent]:
        return [e for e in self.events if e.created_at.startswith(day.isoformat())]
