"""The report's numbers are the warehouse's: a sample checked against the same SQL run on
an independent connection, and against the simulator's ground truth."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from harvester.report import QUERIES, format_cell, render, report_window, write_report

from .conftest import HOSTILE_EMAIL, Harvested
from .pagedata import parse_page

SAMPLE = ("logins_per_day", "failing_emails", "login_statuses", "member_changes", "connector_calls_by_connector",
          "actions_per_project", "emails_per_project", "executions_per_day", "execution_failure_rate",
          "consumption_per_day", "rejects_per_stream")


def _independent(h: Harvested, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    window = report_window(10, h.now)
    with duckdb.connect(str(h.warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        result = con.execute(render(QUERIES[name], window, have_projects=True))
        return [d[0] for d in result.description], result.fetchall()


@pytest.mark.parametrize("name", SAMPLE)
def test_each_data_table_equals_its_query_run_independently(harvested: Harvested, name: str) -> None:
    page = parse_page(harvested.html.read_text())
    columns, rows = _independent(harvested, name)
    if not rows:
        assert name in page.empty and name not in page.tables
        return
    header, *cells = page.tables[name]
    assert header == columns
    assert cells == [[format_cell(v) for v in row] for row in rows]


def test_headline_numbers_match_sql_and_the_simulators_truth(harvested: Harvested) -> None:
    page = parse_page(harvested.html.read_text())
    window = report_window(10, harvested.now)
    truth = [e for e in harvested.org.log_entries("auth_attempt_logs", window.start, window.end)]
    failed = Counter(e["email"] for e in truth if e["status"] != "success")
    assert page.kpis[("kpi_logins", "logins")] == format_cell(len(truth))
    assert page.kpis[("kpi_logins", "failed_logins")] == format_cell(sum(failed.values()))
    assert page.kpis[("kpi_members", "current_members")] == format_cell(len(harvested.org.members()))
    _, per_day = _independent(harvested, "logins_per_day")
    assert sum(r[2] for r in per_day) == sum(failed.values())
    top = {row[0]: row[1] for row in page.tables["failing_emails"][1:]}
    assert top and all(int(n.replace(",", "")) == failed[html.unescape(email)] for email, n in top.items())
    executions = [e for e in harvested.org.executions(window.start, window.end)]
    assert page.kpis[("kpi_executions", "executions")] == format_cell(len(executions))


def test_member_changes_show_the_live_addition_escaped(harvested: Harvested) -> None:
    text = harvested.html.read_text()
    page = parse_page(text)
    assert HOSTILE_EMAIL not in text and html.escape(HOSTILE_EMAIL) in text
    assert ["addUser", HOSTILE_EMAIL] in [row[1:] for row in page.tables["member_changes"]]
    assert "<script" not in text.lower()


def test_panels_of_empty_tables_say_so_and_the_rest_still_renders(logins_only: Harvested) -> None:
    page = parse_page(logins_only.html.read_text())
    assert page.empty["executions_per_day"] == "no data: the table executions is empty"
    assert page.empty["failing_emails"] == "no data: the table members is empty"
    assert page.empty["consumption_per_day"] == "no data: the table consumption is empty"
    assert page.tables["logins_per_day"][0] == ["day", "success", "failed"]
    window = report_window(10, logins_only.now)
    truth = list(logins_only.org.log_entries("auth_attempt_logs", window.start, window.end))
    assert page.kpis[("kpi_logins", "logins")] == format_cell(len(truth))
    assert {"Executions per day", "Consumption per day"} <= set(logins_only.summary.empty)
    assert "Logins per day" not in logins_only.summary.empty


def test_a_warehouse_without_most_tables_still_gets_a_report(tmp_path: Path) -> None:
    """Tables of other sources, or of a newer version, may be missing: those panels say so."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table auth_attempt_logs (id varchar, created_at timestamptz, email varchar, status varchar)")
        con.execute("insert into auth_attempt_logs values ('a', now(), 'x@y', 'success'), ('b', now(), 'x@y', 'nope')")
    summary = write_report(path, tmp_path / "r.html", days=3)
    page = parse_page((tmp_path / "r.html").read_text())
    assert page.empty["executions_per_day"] == (
        "no data: the table executions is not in this warehouse (its source has not been harvested)"
    )
    assert page.tables["login_statuses"][1:] == [["nope", "1"], ["success", "1"]]
    assert page.kpis[("kpi_logins", "failed_logins")] == "1"
    assert summary.charts == 1  # logins per day
