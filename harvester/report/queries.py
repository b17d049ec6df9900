"""Every SQL statement of `harvester report`, in one place.

Each number on the page comes from one of these queries, run read-only on the
warehouse; the tests run the same text to check the page. A query names the tables
it reads (`needs`), so a panel whose tables are missing or empty says so instead of
failing: other sources add their tables later, and an old warehouse lacks new ones.

Placeholders filled by `render`: `{start}` and `{end}` (the window, TIMESTAMPTZ
literals made from datetimes the report computes, never from user or API text) and
`{project_names}` (a relation `(id, name)` over `projects`, or an empty one when that
table is missing, so per-project panels fall back to project ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["QUERIES", "Query", "Window", "render"]


@dataclass(frozen=True)
class Window:
    """The half-open `[start, end)` the report covers, in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    needs: tuple[str, ...]


_IN_WINDOW = "{col} >= {{start}} and {col} < {{end}}"
_CREATED = _IN_WINDOW.format(col="created_at")
_PROJECT = "coalesce(n.name, t.project_id)"
_NAMED = "left join {project_names} n on n.id = t.project_id"
_FAILED_STATUS = "status not in ('finished', 'running', 'success')"


def _per_project(table: str, extra: str = "") -> str:
    return (f"select {_PROJECT} as project, count(*) as n from {table} t {_NAMED} "
            f"where {_CREATED} {extra} group by 1 order by n desc, project limit 15")


_ALL = (
    # ---- headline numbers
    Query("kpi_members", "select count(*) filter (where removed_at is null) as current_members, "
          "count(removed_at) as removed_members from members", ("members",)),
    Query("kpi_logins", "select count(*) as logins, count(*) filter (where status <> 'success') as failed_logins, "
          "round(100.0 * count(*) filter (where status <> 'success') / nullif(count(*), 0), 1) as failed_pct "
          f"from auth_attempt_logs where {_CREATED}", ("auth_attempt_logs",)),
    Query("kpi_executions", "select count(*) as executions, "
          f"count(*) filter (where {_FAILED_STATUS}) as failed_executions from executions where {_CREATED}",
          ("executions",)),
    # ---- logins
    Query("logins_per_day", "select cast(created_at as date) as day, "
          "count(*) filter (where status = 'success') as success, "
          "count(*) filter (where status <> 'success') as failed "
          f"from auth_attempt_logs where {_CREATED} group by 1 order by 1", ("auth_attempt_logs",)),
    Query("failing_emails", "select a.email, count(*) as failures, "
          "count(*) filter (where a.status = 'too_many_attempts') as lockouts, "
          "max(a.created_at) as last_failure, "
          "exists (select 1 from members m where m.email = a.email and m.removed_at is null) as is_member "
          f"from auth_attempt_logs a where a.status <> 'success' and {_CREATED} "
          "group by a.email order by failures desc, a.email limit 15", ("auth_attempt_logs", "members")),
    Query("login_statuses", "select status, count(*) as attempts from auth_attempt_logs "
          f"where {_CREATED} group by 1 order by 2 desc, 1", ("auth_attempt_logs",)),
    # ---- members
    Query("member_changes_per_day", "select cast(created_at as date) as day, "
          "count(*) filter (where lower(event) = 'adduser') as added, "
          "count(*) filter (where lower(event) = 'removeuser') as removed "
          f"from organization_action_logs where lower(event) in ('adduser', 'removeuser') and {_CREATED} "
          "group by 1 order by 1", ("organization_action_logs",)),
    Query("member_changes", "select created_at, event, coalesce(email, raw->>'entityId') as member "
          f"from organization_action_logs where lower(event) in ('adduser', 'removeuser') and {_CREATED} "
          "order by created_at desc limit 30", ("organization_action_logs",)),
    # ---- projects
    Query("actions_per_project", _per_project("project_action_logs"), ("project_action_logs",)),
    Query("connector_calls_per_project", _per_project("connector_action_logs"), ("connector_action_logs",)),
    Query("ai_prompts_per_project", _per_project("ai_prompt_logs"), ("ai_prompt_logs",)),
    Query("emails_per_project",
          _per_project("email_notification_logs", "and t.kind not like '%:mock' and t.kind <> 'received'"),
          ("email_notification_logs",)),
    Query("connector_calls_by_connector", "select coalesce(raw->>'connectorName', '(unknown)') as connector, "
          "count(*) as calls, count(*) filter (where errored) as errored "
          f"from connector_action_logs where {_CREATED} group by 1 order by calls desc, connector",
          ("connector_action_logs",)),
    # ---- executions
    Query("executions_per_day", "select cast(created_at as date) as day, "
          "count(*) filter (where status = 'finished') as finished, "
          f"count(*) filter (where {_FAILED_STATUS}) as failed, "
          "count(*) filter (where status = 'running') as running "
          f"from executions where {_CREATED} group by 1 order by 1", ("executions",)),
    Query("execution_failure_rate", f"select {_PROJECT} as project, count(*) as executions, "
          f"count(*) filter (where {_FAILED_STATUS}) as failed, "
          f"round(100.0 * count(*) filter (where {_FAILED_STATUS}) / count(*), 1) as failed_pct "
          f"from executions t {_NAMED} where {_CREATED} "
          "group by 1 order by failed_pct desc, project limit 15", ("executions",)),
    # ---- consumption: every metric per day, summed over projects
    Query("consumption_per_day", "select cast(period_start as date) as day, metric, sum(value) as value "
          f"from consumption where {_IN_WINDOW.format(col='period_start')} group by 1, 2 order by 2, 1",
          ("consumption",)),
    # ---- harvest health
    Query("last_runs", "select run_id, command, started_at, ended_at, status, "
          "round(epoch(ended_at - started_at), 1) as seconds from _runs "
          "order by started_at desc nulls last limit 10", ("_runs",)),
    Query("rejects_per_stream", "select stream, count(*) as rejects, max(rejected_at) as last_rejected, "
          "min(reason) as a_reason from _rejects group by 1 order by 2 desc, 1", ("_rejects",)),
)

QUERIES: dict[str, Query] = {q.name: q for q in _ALL}

_NO_PROJECTS = "(select cast(null as varchar) as id, cast(null as varchar) as name where false)"
_PROJECTS = "(select id, any_value(name) as name from projects group by id)"


def _literal(instant: datetime) -> str:
    """A TIMESTAMPTZ literal; `instant` is a datetime we computed, so no quoting issue."""
    return f"TIMESTAMPTZ '{instant.isoformat()}'"


def render(query: Query, window: Window, *, have_projects: bool) -> str:
    """The query's SQL with its placeholders filled."""
    return query.sql.format(
        start=_literal(window.start),
        end=_literal(window.end),
        project_names=_PROJECTS if have_projects else _NO_PROJECTS,
    )
