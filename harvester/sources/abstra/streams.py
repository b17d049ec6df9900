"""The Abstra Manager source's tables and streams: which action feeds which table, and how.

The single description of an Abstra stream: the planner reads `scope` to partition
it, the fetchers read `action` to page it, the record builders read the columns'
`source` fields, and the warehouse takes the tables' specs (merge rule, lake day).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sinks.tables import (
    Column,
    FirstWins,
    NewestWins,
    ReplaceGroup,
    Snapshot,
    Table,
    col,
)

from ..base import Stream as SourceStream

__all__ = [
    "ALL_STREAMS",
    "LOG_STREAM_ACTIONS",
    "Scope",
    "Stream",
    "TABLES",
    "parse_stream_names",
]


class Scope(enum.Enum):
    ORG = "org"  # one chain per time slice
    PROJECT_BATCH = "project_batch"  # one chain per (batch of <=100 projects, slice)
    PROJECT = "project"  # one chain per (project, slice)
    SNAPSHOT_ORG = "snapshot_org"  # one call per run
    SNAPSHOT_PROJECT = "snapshot_project"  # one call per project per run


@dataclass(frozen=True)
class Stream:
    """An Abstra stream: the action that feeds it and how it is partitioned."""

    name: str
    action: str
    scope: Scope
    tables: tuple[str, ...]

    @property
    def windowed(self) -> bool:
        return self.scope in (Scope.ORG, Scope.PROJECT_BATCH, Scope.PROJECT)

    def spec(self) -> SourceStream:
        """What the runner knows of it."""
        return SourceStream(self.name, self.tables, self.windowed)


_c = col


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

LOG_STREAM_ACTIONS = {
    "organization_action_logs": ("get_organization_action_logs", Scope.ORG),
    "project_action_logs": ("get_project_action_logs", Scope.PROJECT_BATCH),
    "auth_attempt_logs": ("get_auth_attempt_logs", Scope.ORG),
    "email_notification_logs": ("get_email_notification_logs", Scope.ORG),
    "connector_action_logs": ("get_connector_action_logs", Scope.ORG),
    "ai_prompt_logs": ("get_ai_prompt_logs", Scope.ORG),
}


def _log_table(name: str) -> Table:
    return Table.of(name, _LOG_FIELDS, ("id",), FirstWins(), day_column="created_at")


def _snapshot_table(name: str, fields: tuple[Column, ...], key: tuple[str, ...]) -> Table:
    per_project = any(c.name == "project_id" for c in fields)
    return Table.of(name, fields, key, Snapshot("project_id" if per_project else None))


_TABLE_LIST: tuple[Table, ...] = (
    *(_log_table(name) for name in LOG_STREAM_ACTIONS),
    Table.of(
        "executions",
        (
            _c("id", "VARCHAR", "id"),
            _c("created_at", "TIMESTAMPTZ", "createdAt"),
            _c("project_id", "VARCHAR"),
            _c("status", "VARCHAR", "status"),
            _c("build_id", "VARCHAR", "buildId"),
            _c("stage_id", "VARCHAR", "stageId"),
            _c("stage_name", "VARCHAR", "stageName"),
        ),
        ("id",),
        NewestWins(),
        day_column="created_at",
    ),
    Table.of(
        "consumption",
        (
            _c("project_id"),
            _c("period_start", "TIMESTAMPTZ"),
            _c("period_end", "TIMESTAMPTZ"),
            _c("metric"),
            _c("value", "DOUBLE"),
        ),
        ("project_id", "period_start", "metric"),
        ReplaceGroup(("project_id", "period_start")),  # one reply covers one (project, period)
        day_column="period_start",
        newest_column="period_end",
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
        name: Stream(name, action, scope, (name,))
        for name, (action, scope) in LOG_STREAM_ACTIONS.items()
    },
    "executions": Stream(
        "executions", "get_project_executions", Scope.PROJECT, ("executions",)
    ),
    "consumption": Stream(
        "consumption", "get_project_consumption", Scope.PROJECT, ("consumption",)
    ),
    "members": Stream("members", "get_members", Scope.SNAPSHOT_ORG, ("members",)),
    "organization": Stream(
        "organization", "get_organization", Scope.SNAPSHOT_ORG, ("folders", "projects")
    ),
    "project_tables": Stream(
        "project_tables", "list_project_tables", Scope.SNAPSHOT_PROJECT, ("project_tables",)
    ),
    "project_connectors": Stream(
        "project_connectors",
        "list_project_connectors",
        Scope.SNAPSHOT_PROJECT,
        ("project_connectors",),
    ),
    "project_forms_and_pages": Stream(
        "project_forms_and_pages",
        "list_project_forms_and_pages",
        Scope.SNAPSHOT_PROJECT,
        ("project_forms_and_pages",),
    ),
    "project_abstra_json": Stream(
        "project_abstra_json",
        "get_project_abstra_json",
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
