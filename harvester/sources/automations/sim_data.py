"""The simulated automations platform: workspaces of automations and their children.

Deterministic (every automation comes from its own RNG, derived from the seed, the
workspace and its index) and lazy (a workspace is generated on its first request).
`mutate` is the only way state changes, and it always replaces objects instead of
editing them, so a reply or a remembered truth row never changes under its holder.

Wire objects follow seed 001's field names (snake_case, proto3 JSON: unset fields
omitted, times as RFC 3339 with milliseconds and `Z`).
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...simulator.rand import derive_rng, hex_id, uuid_like
from ...timeutil import format_wire
from .sim_config import AutomationsSimConfig

__all__ = ["Automation", "Mutation", "Platform"]

_NANO_ALPHABET = string.ascii_letters + string.digits + "_-"
_VERBS = ["Sync", "Approve", "Notify", "Archive", "Route", "Enrich", "Reconcile", "Summarize", "Escalate"]
_NOUNS = ["invoices", "leads", "tickets", "contracts", "expenses", "orders", "candidates", "refunds"]
_SUMMARIES = ["Every day at 09:00 UTC", "Every hour", "Every Monday at 08:00 UTC", "On the 1st of each month"]
_PHASES = ["PHASE_TYPE_PRE", "PHASE_TYPE_MAIN", "PHASE_TYPE_POST"]
_SUB_PHASES = ["PHASE_SUB_TYPE_EMAIL", "PHASE_SUB_TYPE_SCHEDULE", "PHASE_SUB_TYPE_WEBHOOK", "PHASE_SUB_TYPE_API"]
_STAGES = ["AUTOMATION_STAGE_DRAFT", "AUTOMATION_STAGE_PUBLISHED"]
_ACTIVE = "AUTOMATION_ACTIVATION_STATE_ACTIVE"
_DEACTIVATED = "AUTOMATION_ACTIVATION_STATE_DEACTIVATED"
_UNPUBLISHED = "AUTOMATION_ACTIVATION_STATE_UNSPECIFIED"
_PURGE_AFTER = timedelta(days=30)


def _nano_id(rng: random.Random) -> str:
    """21 URL-safe characters, the seed's automation id shape."""
    return "".join(rng.choice(_NANO_ALPHABET) for _ in range(21))


def _between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    return lo + (hi - lo) * rng.random()


def _next_version(version: str | None, publish: bool) -> str:
    """Drafts count 0.1, 0.2, ...; publishing makes the next major "N.0" (AIP-162 ids)."""
    if version is None:
        return "1.0" if publish else "0.1"
    major, minor = (int(part) for part in version.split("."))
    return f"{major + 1}.0" if publish else f"{major}.{minor + 1}"


@dataclass
class Automation:
    """One automation: its wire object and its children's wire objects (oldest first)."""

    workspace_id: str
    id: str
    body: dict[str, Any]
    revisions: list[dict[str, Any]] = field(default_factory=list)
    schedule: dict[str, Any] | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    default_inputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def deleted(self) -> bool:
        return "delete_time" in self.body


@dataclass(frozen=True)
class Mutation:
    """What one `Platform.mutate` did, by automation id. `reread` = changed, deleted and
    created: the automations whose update_time moved, whose children an incremental
    harvest must re-read (and no others)."""

    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    purged: tuple[str, ...]
    created: tuple[str, ...]

    @property
    def reread(self) -> frozenset[str]:
        return frozenset((*self.changed, *self.deleted, *self.created))


class Platform:
    """The organization's workspaces. `clock` is "now": every time served is before it."""

    def __init__(self, config: AutomationsSimConfig) -> None:
        self.config = config
        self.clock = config.now
        self.generation = 0
        generated = [f"user_{hex_id(derive_rng(config.seed, 'user', i))[:12]}" for i in range(8)]
        self._users = list(config.users) or generated
        self._workspaces: dict[str, dict[str, Automation]] = {}
        self._created = 0

    # -- reading -------------------------------------------------------------

    def has_workspace(self, organization_id: str, workspace_id: str) -> bool:
        return organization_id == self.config.organization_id and workspace_id in self.config.workspaces

    def workspace(self, workspace_id: str) -> dict[str, Automation]:
        """The workspace's automations by id (purged ones are gone), generated on first use."""
        if workspace_id not in self._workspaces:
            self._workspaces[workspace_id] = {
                a.id: a for a in (self._generate(workspace_id, i) for i in range(self.config.automations_per_workspace))
            }
        return self._workspaces[workspace_id]

    def automations(self) -> Iterator[Automation]:
        """Every automation of every workspace, in a fixed order."""
        for workspace_id in self.config.workspaces:
            yield from self.workspace(workspace_id).values()

    def listed(self, workspace_id: str, show_deleted: bool) -> list[Automation]:
        """List Automations order: newest update_time first (ties by id)."""
        chosen = [a for a in self.workspace(workspace_id).values() if show_deleted or not a.deleted]
        return sorted(chosen, key=lambda a: (a.body["update_time"], a.id), reverse=True)

    # -- generating ----------------------------------------------------------

    def _generate(self, workspace_id: str, index: int) -> Automation:
        config = self.config
        rng = derive_rng(config.seed, "automation", workspace_id, index)
        start = config.now - timedelta(days=config.history_days)
        create = _between(rng, start, config.now - (config.now - start) / 10)
        later = [_between(rng, create, config.now) for _ in range(rng.randint(0, config.max_revisions - 1))]
        times = sorted([create, *later])
        automation = self._new(rng, workspace_id, _nano_id(rng), index, times)
        if rng.random() < config.schedule_rate:
            automation.schedule = self._schedule(rng, automation.name, config.now)
        automation.triggers = [self._trigger(rng, automation.name) for _ in range(rng.randint(0, config.max_triggers))]
        inputs = [
            self._default_input(rng, _between(rng, create, times[-1]))
            for _ in range(rng.randint(0, config.max_default_inputs))
        ]
        automation.default_inputs = sorted(inputs, key=lambda entry: entry["create_time"])
        if rng.random() < config.deleted_rate:
            self._delete(automation, _between(rng, times[-1], config.now))
        return automation

    def _new(
        self, rng: random.Random, workspace_id: str, automation_id: str, index: int, times: list[datetime]
    ) -> Automation:
        """An automation created at times[0] with one revision per time."""
        author = rng.choice(self._users)
        org = self.config.organization_id
        body: dict[str, Any] = {
            "name": f"organizations/{org}/workspaces/{workspace_id}/automations/{automation_id}",
            "display_name": f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} #{index}",
            "english_code": "When called, read the inputs and return a summary.",
            "code": "def main(inputs):\n    return {'ok': True}\n",
            "create_time": format_wire(times[0]),
            "author_id": author,
            "activation_state": _UNPUBLISHED,
        }
        if rng.random() < 0.7:
            body["description"] = f"Automates {rng.choice(_NOUNS)} for the {workspace_id} team."
        if rng.random() < 0.3:
            body["marked_outputs"] = ["ok"]
        automation = Automation(workspace_id, automation_id, body)
        for when in times:
            self._add_revision(automation, rng, when, publish=rng.random() < 0.3)
        return automation

    def _add_revision(self, automation: Automation, rng: random.Random, when: datetime, *, publish: bool) -> None:
        version = _next_version(automation.body.get("version"), publish)
        revision: dict[str, Any] = {"name": f"{automation.name}/revisions/{version}", "create_time": format_wire(when)}
        if publish:  # an alias that never moves, so the revision stays immutable
            revision["alternate_ids"] = [f"v{version.split('.')[0]}"]
        automation.revisions = [*automation.revisions, revision]
        user = rng.choice(self._users)
        body = {**automation.body, "version": version, "update_time": format_wire(when), "update_user_id": user}
        if publish:
            body.update(
                publish_time=format_wire(when),
                publish_user_id=user,
                latest_published_version=version,
                activation_state=_ACTIVE if rng.random() < 0.8 else _DEACTIVATED,
            )
        automation.body = body

    def _schedule(self, rng: random.Random, automation_name: str, now: datetime) -> dict[str, Any]:
        step = timedelta(hours=rng.choice([1, 24, 168]))
        first = now + timedelta(minutes=rng.randint(1, 59))
        schedule: dict[str, Any] = {
            "name": f"{automation_name}/schedule",
            "enabled": rng.random() < 0.8,
            "summary": rng.choice(_SUMMARIES),
            "next_run_times": [format_wire(first + step * n) for n in range(3)],
        }
        if rng.random() < 0.3:
            schedule["remaining_occurrences"] = rng.randint(1, 50)
        return schedule

    def _trigger(self, rng: random.Random, automation_name: str) -> dict[str, Any]:
        return {
            "trigger_id": uuid_like(rng),
            "automation": automation_name,
            "phase_type": rng.choice(_PHASES),
            "phase_sub_type": rng.choice(_SUB_PHASES),
            "is_active": rng.random() < 0.8,
        }

    def _default_input(self, rng: random.Random, when: datetime) -> dict[str, Any]:
        """A history entry; the seed names no fields, so: id (sometimes absent, to
        exercise the content-hash key), stage, inputs, create_time, create_user_id."""
        entry: dict[str, Any] = {
            "stage": rng.choice(_STAGES),
            "inputs": {"email": f"{rng.choice(_NOUNS)}@example.com", "limit": rng.randint(1, 100)},
            "create_time": format_wire(when),
            "create_user_id": rng.choice(self._users),
        }
        if rng.random() >= self.config.missing_id_rate:
            entry = {"id": f"dih_{hex_id(rng)}", **entry}
        return entry

    def _delete(self, automation: Automation, when: datetime) -> None:
        """Soft delete (AIP-164): delete_time and purge_time set, update_time moves too."""
        stamp = format_wire(when)
        automation.body = {
            **automation.body,
            "update_time": stamp,
            "delete_time": stamp,
            "purge_time": format_wire(when + _PURGE_AFTER),
        }

    # -- changing ------------------------------------------------------------

    def mutate(
        self, seed: int | None = None, *, changed: int = 3, deleted: int = 1, purged: int = 1, created: int = 1
    ) -> Mutation:
        """Advance the clock an hour and change the platform (see Mutation).

        `changed` live automations get a new revision (sometimes published) and maybe a
        new, changed or removed schedule, trigger changes and a default-inputs entry;
        `deleted` live ones are soft-deleted; `purged` ones (deleted or not) vanish with
        their children; `created` new ones appear. Same seed, same changes."""
        self.generation += 1
        self.clock += timedelta(hours=1)
        rng = derive_rng(self.config.seed, "mutate", self.generation if seed is None else seed)
        pool = list(self.automations())
        live = [a for a in pool if not a.deleted]
        to_change = rng.sample(live, min(changed, len(live)))
        taken = {a.id for a in to_change}
        rest = [a for a in live if a.id not in taken]
        to_delete = rng.sample(rest, min(deleted, len(rest)))
        taken |= {a.id for a in to_delete}
        rest = [a for a in pool if a.id not in taken]
        to_purge = rng.sample(rest, min(purged, len(rest)))
        tick = (self.clock + timedelta(milliseconds=n) for n in itertools.count())
        for automation in to_change:
            self._change(automation, rng, next(tick))
        for automation in to_delete:
            self._delete(automation, next(tick))
        for automation in to_purge:
            del self._workspaces[automation.workspace_id][automation.id]
        born = [self._create(rng, next(tick)) for _ in range(created)]
        return Mutation(
            tuple(a.id for a in to_change),
            tuple(a.id for a in to_delete),
            tuple(a.id for a in to_purge),
            tuple(a.id for a in born),
        )

    def _change(self, automation: Automation, rng: random.Random, when: datetime) -> None:
        self._add_revision(automation, rng, when, publish=rng.random() < 0.4)
        roll = rng.random()
        if automation.schedule is None and roll < 0.5:
            automation.schedule = self._schedule(rng, automation.name, when)
        elif automation.schedule is not None and roll < 0.3:
            automation.schedule = None
        elif automation.schedule is not None and roll < 0.8:
            flipped = not automation.schedule["enabled"]
            automation.schedule = {**self._schedule(rng, automation.name, when), "enabled": flipped}
        self._change_triggers(automation, rng)
        if rng.random() < 0.6:
            automation.default_inputs = [*automation.default_inputs, self._default_input(rng, when)]

    def _change_triggers(self, automation: Automation, rng: random.Random) -> None:
        triggers = list(automation.triggers)
        roll = rng.random()
        if triggers and roll < 0.35:
            i = rng.randrange(len(triggers))
            triggers[i] = {**triggers[i], "is_active": not triggers[i]["is_active"]}
        elif triggers and roll < 0.6:
            del triggers[rng.randrange(len(triggers))]
        else:
            triggers.append(self._trigger(rng, automation.name))
        automation.triggers = triggers

    def _create(self, rng: random.Random, when: datetime) -> Automation:
        workspace_id = rng.choice(self.config.workspaces)
        self._created += 1
        index = self.config.automations_per_workspace + self._created
        automation = self._new(rng, workspace_id, _nano_id(rng), index, [when])
        if rng.random() < 0.5:
            automation.schedule = self._schedule(rng, automation.name, when)
        automation.triggers = [self._trigger(rng, automation.name) for _ in range(rng.randint(0, 2))]
        self.workspace(workspace_id)[automation.id] = automation
        return automation
