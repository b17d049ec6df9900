"""The streams the harvester knows: which action feeds which table, and how.

This registry is the single description of a stream. The planner reads `scope` to
partition it, the fetchers read `action` and `kind` to page it, the record builders
read `fields` to type its columns, and the warehouse derives its DDL from `columns`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ALL_STREAMS",
    "Column",
    "Kind",
    "Scope",
    "Stream",
    "TABLES",
    "Table",
    "parse_stream_names",
]


class Kind(enum.Enum):
    LOG = "log"  # cursor-paged, immutable entries: the first copy stays
    EXECUTIONS = "executions"  # offset-paged, mutable entries: the newest copy wins
    CONSUMPTION = "consumption"  # one reply per (project, period), flattened to metrics
    SNAPSHOT = "snapshot"  # current state, re-read every run


class Scope(enum.Enum):
    ORG = "org"  # one chain per time slice
    PROJECT_BATCH = "project_batch"  # one chain per (batch of <=100 projects, slice)
    PROJECT = "project"  # one chain per (project, slice)
    SNAPSHOT_ORG = "snapshot_org"  # one call per run
    SNAPSHOT_PROJECT = "snapshot_project"  # one call per project per run


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # DuckDB type
    source: str | None = None  # the API field it comes from; None when the harvester fills it


@dataclass(frozen=True)
class Table:
    """A warehouse table. `key` names the columns that identify a row."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    kind: Kind

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Stream:
    """A unit of harvesting a user can name in `--streams`."""

    name: str
    action: str
    kind: Kind
    scope: Scope
    tables: tuple[str, ...]


def _c(name: str, sql_type: str = "VARCHAR", source: str | None = None) -> Column:
    return Column(name, sql_type, source)


_LOG_FIELDS = (
    _c("id", "VARCHAR", "id"),
    _c("created_at", "TIMESTAMPTZ", "createdAt"),
    _c("project_id", "VARCHAR", "projectId"),
    _c("author_id", "VARCHAR", "authorId"),
    _c("event", "VARCHAR", "event"),
    _c("email", "VARCHAR", "email"),
    _c("status", "VARCHAR", "status"),
    _c("kind", "VARCHAR", "kind"),
    _c("source", "VARCHAR", "source"),
    _c("errored", "BOOLEAN", "errored"),
)
_RAW = _c("raw", "JSON")
_HARVESTED = _c("harvested_at", "TIMESTAMPTZ")
_SEEN = (
    _c("first_seen_at", "TIMESTAMPTZ"),
    _c("last_seen_at", "TIMESTAMPTZ"),
    _c("removed_at", "TIMESTAMPTZ"),
)

LOG_STREAM_ACTIONS = {
    "organization_action_logs": ("get_organization_action_logs", Scope.ORG),
    "project_action_logs": ("get_project_action_logs", Scope.PROJECT_BATCH),
    "auth_attempt_logs": ("get_auth_attempt_logs", Scope.ORG),
    "email_notification_logs": ("get_email_notification_logs", Scope.ORG),
    "connector_action_logs": ("get_connector_action_logs", Scope.ORG),
    "ai_prompt_logs": ("get_ai_prompt_logs", Scope.ORG),
}


def _log_table(name: str) -> Table:
    return Table(name, (*_LOG_FIELDS, _RAW, _HARVESTED), ("id",), Kind.LOG)


def _snapshot_table(name: str, fields: tuple[Column, ...], key: tuple[str, ...]) -> Table:
    return Table(name, (*fields, _RAW, *_SEEN), key, Kind.SNAPSHOT)


_TABLE_LIST: tuple[Table, ...] = (
    *(_log_table(name) for name in LOG_STREAM_ACTIONS),
    Table(
        "executions",
        (
            _c("id", "VARCHAR", "id"),
            _c("created_at", "TIMESTAMPTZ", "createdAt"),
            _c("project_id", "VARCHAR"),
            _c("status", "VARCHAR", "status"),
            _c("build_id", "VARCHAR", "buildId"),
            _c("stage_id", "VARCHAR", "stageId"),
            _c("stage_name", "VARCHAR", "stageName"),
            _RAW,
            _HARVESTED,
        ),
        ("id",),
        Kind.EXECUTIONS,
    ),
    Table(
        "consumption",
        (
            _c("project_id"),
            _c("period_start", "TIMESTAMPTZ"),
            _c("period_end", "TIMESTAMPTZ"),
            _c("metric"),
            _c("value", "DOUBLE"),
            _RAW,
            _HARVESTED,
        ),
        ("project_id", "period_start", "metric"),
        Kind.CONSUMPTION,
    ),
    _snapshot_table(
        "members",
        (
            _c("id", "VARCHAR", "id"),
            _c("author_id", "VARCHAR", "authorId"),
            _c("email", "VARCHAR", "email"),
            _c("folders", "JSON", "folders"),
        ),
        ("id",),
    ),
    _snapshot_table("folders", (_c("id", "VARCHAR", "id"), _c("name", "VARCHAR", "name")), ("id",)),
    _snapshot_table(
        "projects",
        (
            _c("id", "VARCHAR", "id"),
            _c("name", "VARCHAR", "name"),
            _c("folder_id"),
            _c("folder_name"),
        ),
        ("id",),
    ),
    _snapshot_table(
        "project_tables",
        (
            _c("project_id"),
            _c("id", "VARCHAR", "id"),
            _c("name", "VARCHAR", "name"),
            _c("columns", "JSON", "columns"),
        ),
        ("project_id", "id"),
    ),
    _snapshot_table(
        "project_connectors",
        (
            _c("project_id"),
            _c("id", "VARCHAR", "id"),
            _c("name", "VARCHAR", "name"),
            _c("connector_type", "VARCHAR", "connectorType"),
            _c("status", "VARCHAR", "status"),
            _c("scopes", "JSON", "scopes"),
            _c("created_at", "VARCHAR", "createdAt"),
            _c("updated_at", "VARCHAR", "updatedAt"),
        ),
        ("project_id", "id"),
    ),
    _snapshot_table(
        "project_forms_and_pages",
        (
            _c("project_id"),
            _c("id", "VARCHAR", "id"),
            _c("stage_kind"),
            _c("title", "VARCHAR", "title"),
            _c("path", "VARCHAR", "path"),
            _c("is_public", "BOOLEAN", "isPublic"),
            _c("required_roles", "JSON", "requiredRoles"),
        ),
        ("project_id", "id"),
    ),
    _snapshot_table(
        "project_abstra_json",
        (_c("project_id"), _c("deployed", "JSON", "deployed"), _c("editor", "JSON", "editor")),
        ("project_id",),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in _TABLE_LIST}

ALL_STREAMS: dict[str, Stream] = {
    **{
        name: Stream(name, action, Kind.LOG, scope, (name,))
        for name, (action, scope) in LOG_STREAM_ACTIONS.items()
    },
    "executions": Stream(
        "executions", "get_project_executions", Kind.EXECUTIONS, Scope.PROJECT, ("executions",)
    ),
    "consumption": Stream(
        "consumption", "get_project_consumption", Kind.CONSUMPTION, Scope.PROJECT, ("consumption",)
    ),
    "members": Stream("members", "get_members", Kind.SNAPSHOT, Scope.SNAPSHOT_ORG, ("members",)),
    "organization": Stream(
        "organization", "get_organization", Kind.SNAPSHOT, Scope.SNAPSHOT_ORG, ("folders", "projects")
    ),
    "project_tables": Stream(
        "project_tables", "list_project_tables", Kind.SNAPSHOT, Scope.SNAPSHOT_PROJECT, ("project_tables",)
    ),
    "project_connectors": Stream(
        "project_connectors",
        "list_project_connectors",
        Kind.SNAPSHOT,
        Scope.SNAPSHOT_PROJECT,
        ("project_connectors",),
    ),
    "project_forms_and_pages": Stream(
        "project_forms_and_pages",
        "list_project_forms_and_pages",
        Kind.SNAPSHOT,
        Scope.SNAPSHOT_PROJECT,
        ("project_forms_and_pages",),
    ),
    "project_abstra_json": Stream(
        "project_abstra_json",
        "get_project_abstra_json",
        Kind.SNAPSHOT,
        Scope.SNAPSHOT_PROJECT,
        ("project_abstra_json",),
    ),
}


def parse_stream_names(names: list[str] | tuple[str, ...] | None) -> tuple[Stream, ...]:
    """Resolve user-given names (config or `--streams`); None or empty means all.

    Raises ValueError naming the unknown stream and listing the known ones.
    """
    if not names:
        return tuple(ALL_STREAMS.values())
    unknown = [n for n in names if n not in ALL_STREAMS]
    if unknown:
        raise ValueError(
            f"unknown stream {unknown[0]!r}: choose from {', '.join(ALL_STREAMS)}"
        )
    return tuple(ALL_STREAMS[n] for n in dict.fromkeys(names))
