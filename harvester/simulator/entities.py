"""The organization's slow-moving things: folders, projects, members, per-project inventory.

They are small, so they are built eagerly from the seed. Log and execution
generators draw projects and authors from the *initial* lists, so removing a project
or a member later never rewrites history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..timeutil import format_wire
from .rand import derive_rng, hex_id, uuid_like

__all__ = [
    "INVENTORY_ACTIONS",
    "Folder",
    "Member",
    "Project",
    "Stage",
    "build_folders",
    "build_members",
    "build_projects",
    "inventory_for",
    "member_json",
]

INVENTORY_ACTIONS = (
    "list_project_tables",
    "list_project_connectors",
    "list_project_forms_and_pages",
    "get_project_abstra_json",
)

_FOLDER_NAMES = ["Finance", "Operations", "People", "Sales", "Engineering", "Support", "Legal", "Marketing"]
_PROJECT_NAMES = [
    "Invoice Approval", "Vendor Onboarding", "Expense Reports", "Customer Portal", "Hiring Pipeline",
    "Contract Review", "Purchase Orders", "Support Triage", "Lead Routing", "KYC Checks",
    "Payroll Sync", "Inventory Audit", "Refund Requests", "Partner Portal", "Access Requests",
]
_FIRST = ["ana", "bruno", "carla", "diego", "elisa", "fabio", "gabi", "hugo", "iris", "joao", "kate", "luis"]
_FORMER_FIRST = ["marta", "nuno", "olga", "paulo", "rita", "sergio"]
_LAST = ["silva", "souza", "costa", "lima", "rocha", "alves", "nunes", "pires", "melo", "dias"]
_COLUMN_TYPES = ["text", "int", "float", "boolean", "date", "timestamp", "uuid", "json"]
_CONNECTOR_TYPES = ["slack", "google-calendar", "google-sheets", "hubspot", "postgres", "openai", "gmail", "stripe"]
_STAGE_KINDS = ["form", "page", "hook", "job", "script"]
_ROLES = ["admin", "finance", "reviewer", "manager", "support"]


@dataclass(frozen=True)
class Folder:
    id: str
    name: str


@dataclass(frozen=True)
class Stage:
    """A form, page, hook, job or script (tasklet) of a project's workflow."""

    id: str
    kind: str
    title: str
    path: str
    is_public: bool
    required_roles: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    folder_id: str
    created_at: str
    weight: float  # share of the organization's activity
    deployed: bool
    stages: tuple[Stage, ...] = field(repr=False)


@dataclass(frozen=True)
class Member:
    """A person of the organization. `joined_at`/`left_at` (wire instants) are set for
    those who joined or left during the simulated history; None means "before it"
    and "still here". Neither is on the wire: they shape the history only."""

    id: str
    author_id: str
    email: str
    folders: tuple[str, ...]
    joined_at: str | None = None
    left_at: str | None = None


def build_folders(seed: int, count: int) -> list[Folder]:
    rng = derive_rng(seed, "folders")
    out = []
    for i in range(count):
        base = _FOLDER_NAMES[i % len(_FOLDER_NAMES)]
        name = base if i < len(_FOLDER_NAMES) else f"{base} {i // len(_FOLDER_NAMES) + 1}"
        out.append(Folder(uuid_like(rng), name))
    return out


def _stages(rng: random.Random, name: str) -> tuple[Stage, ...]:
    stages = []
    for i in range(rng.randint(2, 7)):
        kind = _STAGE_KINDS[i] if i < len(_STAGE_KINDS) else rng.choice(_STAGE_KINDS)
        title = f"{name} {kind} {i + 1}"
        path = f"{kind}-{i + 1}" if kind in ("form", "page") else ""
        public = kind in ("form", "page") and rng.random() < 0.3
        roles = () if public else tuple(sorted(rng.sample(_ROLES, rng.randint(0, 2))))
        stages.append(Stage(uuid_like(rng), kind, title, path, public, roles))
    return tuple(stages)


def build_projects(seed: int, count: int, folders: list[Folder], history_start: datetime) -> list[Project]:
    """Projects created before history starts, in creation order (ids sort otherwise)."""
    rng = derive_rng(seed, "projects")
    created = sorted(
        history_start - timedelta(days=rng.uniform(1, 400), milliseconds=rng.randrange(86_400_000))
        for _ in range(count)
    )
    out = []
    for i, when in enumerate(created):
        base = _PROJECT_NAMES[i % len(_PROJECT_NAMES)]
        name = base if i < len(_PROJECT_NAMES) else f"{base} {i // len(_PROJECT_NAMES) + 1}"
        pid = uuid_like(rng)
        folder = folders[i % len(folders)] if i < len(folders) else rng.choice(folders)
        weight = rng.paretovariate(1.5)
        deployed = rng.random() >= 1 / 6 or i == 0
        out.append(Project(pid, name, folder.id, format_wire(when), weight, deployed, _stages(rng, name)))
    return out


def build_members(
    seed: int, count: int, folders: list[Folder], history: tuple[datetime, datetime]
) -> list[Member]:
    """`count` current members, then the former members who left during `history`.

    The last `count // 6` current members joined during the history; `count // 6`
    (at least one once there are four) former members left during it. The first
    member is there throughout: the admin who adds and removes the others.
    """
    rng = derive_rng(seed, "members")
    ids = [f.id for f in folders]
    out = []
    for i in range(count):
        first, last = _FIRST[i % len(_FIRST)], rng.choice(_LAST)
        suffix = "" if i < len(_FIRST) else str(i)
        chosen = tuple(rng.sample(ids, rng.randint(1, len(ids))))
        out.append(Member(hex_id(rng), uuid_like(rng), f"{first}.{last}{suffix}@acme.example", chosen))
    joiners = count // 6 if count >= 4 else 0
    for i in range(count - joiners, count):
        out[i] = replace(out[i], joined_at=_instant_in(seed, "joined", i, history, 0.15, 0.65))
    former = max(1, count // 6) if count >= 4 else 0
    for i in range(former):
        first, last = _FORMER_FIRST[i % len(_FORMER_FIRST)], rng.choice(_LAST)
        email = f"{first}.{last}{'' if i < len(_FORMER_FIRST) else i}@acme.example"
        chosen = tuple(rng.sample(ids, rng.randint(1, len(ids))))
        left = _instant_in(seed, "left", i, history, 0.3, 0.85)
        out.append(Member(hex_id(rng), uuid_like(rng), email, chosen, left_at=left))
    return out


def _instant_in(
    seed: int, what: str, i: int, history: tuple[datetime, datetime], lo: float, hi: float
) -> str:
    """A wire instant between fractions `lo` and `hi` of the history, own RNG per member."""
    rng = derive_rng(seed, "member-lifecycle", what, i)
    span = (history[1] - history[0]).total_seconds()
    return format_wire(history[0] + timedelta(seconds=round(span * rng.uniform(lo, hi), 3)))


def member_json(member: Member) -> dict[str, Any]:
    return {"id": member.id, "authorId": member.author_id, "email": member.email, "folders": list(member.folders)}


def _tables(rng: random.Random) -> dict[str, Any]:
    tables = []
    for i in range(rng.randint(0, 5)):
        cols = [{"name": "id", "type": "uuid"}, {"name": "created_at", "type": "timestamp"}]
        cols += [{"name": f"field_{j}", "type": rng.choice(_COLUMN_TYPES)} for j in range(rng.randint(1, 6))]
        tables.append({"id": uuid_like(rng), "name": f"table_{i + 1}", "columns": cols})
    return {"tables": tables}


def _connectors(rng: random.Random, project: Project) -> dict[str, Any]:
    base = datetime.fromisoformat(project.created_at)
    out = []
    for ctype in rng.sample(_CONNECTOR_TYPES, rng.randint(0, 4)):
        created = base + timedelta(days=rng.uniform(0, 30))
        updated = created + timedelta(days=rng.uniform(0, 60))
        out.append({
            "id": uuid_like(rng),
            "name": f"{ctype}-{rng.randint(1, 9)}",
            "connectorType": ctype,
            "status": rng.choice(["active", "active", "active", "expired"]),
            "scopes": sorted(rng.sample(["read", "write", "admin", "events"], rng.randint(1, 3))),
            "createdAt": format_wire(created),
            "updatedAt": format_wire(updated),
        })
    return {"connections": out}


def _stage_json(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.id,
        "title": stage.title,
        "path": stage.path,
        "isPublic": stage.is_public,
        "requiredRoles": list(stage.required_roles),
    }


def _forms_and_pages(project: Project) -> dict[str, Any]:
    if not project.deployed:
        return {"forms": [], "pages": []}
    return {
        "forms": [_stage_json(s) for s in project.stages if s.kind == "form"],
        "pages": [_stage_json(s) for s in project.stages if s.kind == "page"],
    }


def _abstra_json(rng: random.Random, project: Project) -> dict[str, Any]:
    def doc(stages: tuple[Stage, ...]) -> dict[str, Any]:
        by_kind: dict[str, list[dict[str, Any]]] = {f"{k}s": [] for k in _STAGE_KINDS}
        for s in stages:
            entry = {"id": s.id, "title": s.title, "file": f"{s.kind}_{s.id[:8]}.py"}
            if s.path:
                entry["path"] = s.path
            by_kind[f"{s.kind}s"].append(entry)
        return {
            "version": "13.0",
            "workspace": {"name": project.name, "theme": rng.choice(["light", "dark"])},
            **by_kind,
            "transitions": [
                {"id": uuid_like(rng), "source": a.id, "target": b.id}
                for a, b in zip(stages, stages[1:], strict=False)
            ],
            "auth": {"access_control": [{"path": s.path, "roles": list(s.required_roles)} for s in stages if s.path]},
        }

    deployed = doc(project.stages) if project.deployed else None
    editor = None if project.deployed and rng.random() < 0.1 else doc(project.stages)
    if editor is not None and rng.random() < 0.4:
        editor["scripts"].append({"id": uuid_like(rng), "title": "draft script", "file": "draft.py"})
    return {"deployed": deployed, "editor": editor}


def inventory_for(seed: int, action: str, project: Project) -> dict[str, Any]:
    """The reply data of one per-project inventory action; the same every call."""
    rng = derive_rng(seed, "inventory", action, project.id)
    if action == "list_project_tables":
        return _tables(rng)
    if action == "list_project_connectors":
        return _connectors(rng, project)
    if action == "list_project_forms_and_pages":
        return _forms_and_pages(project)
    if action == "get_project_abstra_json":
        return _abstra_json(rng, project)
    raise KeyError(action)
