"""What the report shows, section by section: which query feeds which chart.

Charts are drawn only for results with rows; a panel without data carries the
reason instead (see `data.Result.empty_reason`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from . import charts
from .data import ReportData, Result
from .page import Kpi, Panel, Section

__all__ = ["kpis", "sections"]

_GREEN, _RED, _GREY, _BLUE, _ORANGE = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0", "#ef6c00"
_FRESHNESS_COLUMNS = ("table", "rows", "newest", "covered_until", "lag_hours", "pending_partitions", "rejects")


def _chart(result: Result, draw: Callable[[Result], str]) -> str | None:
    return draw(result) if result.rows else None


def _panel(title: str, result: Result, draw: Callable[[Result], str] | None = None, **options: Any) -> Panel:
    return Panel(title, result, _chart(result, draw) if draw else None, **options)


def kpis(data: ReportData) -> list[Kpi]:
    r = data.results
    return [
        Kpi("current members", r["kpi_members"], "current_members"),
        Kpi("login attempts", r["kpi_logins"], "logins"),
        Kpi("failed logins", r["kpi_logins"], "failed_logins"),
        Kpi("% of logins failed", r["kpi_logins"], "failed_pct"),
        Kpi("executions", r["kpi_executions"], "executions"),
        Kpi("failed executions", r["kpi_executions"], "failed_executions"),
    ]


def _span(data: ReportData) -> tuple[date, date]:
    return data.window.start.date(), data.window.end.date()


def _logins(data: ReportData) -> Section:
    r = data.results
    return Section("Logins", "Auth attempts per day, and the emails that fail most (non-members included).", [
        _panel("Logins per day", r["logins_per_day"], lambda x: charts.daily_bars(
            x, [("success", _GREEN, "success"), ("failed", _RED, "failed")], _span(data)), wide=True),
        _panel("Failed logins by email", r["failing_emails"],
               lambda x: charts.hbars(x, "email", "failures", colour=_RED)),
        _panel("Failing emails: lockouts, last failure, still a member", r["failing_emails"]),
        _panel("Attempts by status", r["login_statuses"]),
    ])


def _members(data: ReportData) -> Section:
    r = data.results
    return Section("Members", "Members added and removed, from the organization's audit log (addUser, removeUser).", [
        _panel("Members added and removed per day", r["member_changes_per_day"], lambda x: charts.daily_bars(
            x, [("added", _BLUE, "added"), ("removed", _ORANGE, "removed")], _span(data), width=4.7)),
        _panel("Latest changes", r["member_changes"]),
    ])


def _projects(r: dict[str, Result]) -> Section:
    def top(name: str, title: str) -> Panel:
        return _panel(title, r[name], lambda x: charts.hbars(x, "project", "n"))

    return Section("Projects", "The 15 most active projects for each kind of activity.", [
        top("actions_per_project", "Project actions (audit log)"),
        top("connector_calls_per_project", "Connector calls"),
        top("ai_prompts_per_project", "AI prompts"),
        top("emails_per_project", "Emails sent (no editor tests, no inbound)"),
        _panel("Connector calls by connector", r["connector_calls_by_connector"],
               lambda x: charts.hbars(x, "connector", "calls")),
        _panel("Connector calls and errors", r["connector_calls_by_connector"]),
    ])


def _executions(data: ReportData) -> Section:
    r = data.results
    return Section("Executions", "Runs of forms, hooks, jobs and scripts; failure rate by project.", [
        _panel("Executions per day", r["executions_per_day"], lambda x: charts.daily_bars(
            x, [("finished", _GREEN, "finished"), ("failed", _RED, "failed"), ("running", _GREY, "running")],
            _span(data)), wide=True),
        _panel("Failed executions, % by project", r["execution_failure_rate"], lambda x: charts.hbars(
            x, "project", "failed_pct", colour=_RED, unit="%")),
        _panel("Executions and failures per project", r["execution_failure_rate"]),
    ])


def _consumption(r: dict[str, Result]) -> Section:
    return Section("Consumption", "Each metric per day, summed over projects (gauges such as rows: the day's value).", [
        _panel("Consumption per day", r["consumption_per_day"],
               charts.metric_grid, wide=True),
    ])


def _freshness(data: ReportData) -> Result:
    rows = [
        tuple(round(s["lag_seconds"] / 3600, 1) if c == "lag_hours" and s["lag_seconds"] is not None
              else s.get(c) for c in _FRESHNESS_COLUMNS)
        for s in data.status
    ]
    return Result("freshness", list(_FRESHNESS_COLUMNS), rows)


def _health(data: ReportData) -> Section:
    r = data.results
    return Section("Harvest health", "How fresh each table is, the last runs, and entries rejected by validation.", [
        _panel("Freshness per table (lag: now minus covered-until)", _freshness(data), wide=True),
        _panel("Last runs", r["last_runs"], wide=True),
        _panel("Rejected entries per stream", r["rejects_per_stream"],
               when_empty="no rejected entries: every entry harvested passed validation"),
    ])


def sections(data: ReportData) -> list[Section]:
    r = data.results
    return [_logins(data), _members(data), _projects(r), _executions(data), _consumption(r), _health(data)]
