"""The five tables match issue 8's contract: names, keys, merge rules, columns."""

from __future__ import annotations

from harvester.sources.automations.tables import TABLES
from sinks.tables import FirstWins, Snapshot

SEEN = ("first_seen_at", "last_seen_at", "removed_at")


def test_names_keys_and_merge_rules_are_the_contract() -> None:
    got = {t.name: (t.key, t.merge) for t in TABLES}
    assert got == {
        "automations": (("id",), Snapshot("workspace_id")),
        "automation_revisions": (("id",), FirstWins()),
        "automation_schedules": (("automation_id",), Snapshot("automation_id")),
        "automation_triggers": (("automation_id", "trigger_id"), Snapshot("automation_id")),
        "automation_default_inputs": (("id",), FirstWins()),
    }


def test_columns_and_types_are_the_issue_lists() -> None:
    types = {t.name: {c.name: c.sql_type for c in t.columns} for t in TABLES}
    assert types["automations"] == {
        "id": "VARCHAR", "organization_id": "VARCHAR", "workspace_id": "VARCHAR", "display_name": "VARCHAR",
        "description": "VARCHAR", "version": "VARCHAR", "activation_state": "VARCHAR", "author_id": "VARCHAR",
        "create_time": "TIMESTAMPTZ", "update_time": "TIMESTAMPTZ", "update_user_id": "VARCHAR",
        "publish_time": "TIMESTAMPTZ", "publish_user_id": "VARCHAR", "latest_published_version": "VARCHAR",
        "delete_time": "TIMESTAMPTZ", "raw": "JSON", **dict.fromkeys(SEEN, "TIMESTAMPTZ"),
    }
    assert types["automation_revisions"] == {
        "id": "VARCHAR", "automation_id": "VARCHAR", "workspace_id": "VARCHAR", "revision_id": "VARCHAR",
        "create_time": "TIMESTAMPTZ", "alternate_ids": "JSON", "raw": "JSON", "harvested_at": "TIMESTAMPTZ",
    }
    assert types["automation_schedules"] == {
        "automation_id": "VARCHAR", "enabled": "BOOLEAN", "summary": "VARCHAR", "next_run_times": "JSON",
        "remaining_occurrences": "BIGINT", "raw": "JSON", **dict.fromkeys(SEEN, "TIMESTAMPTZ"),
    }
    assert types["automation_triggers"] == {
        "automation_id": "VARCHAR", "trigger_id": "VARCHAR", "phase_type": "VARCHAR", "phase_sub_type": "VARCHAR",
        "is_active": "BOOLEAN", "raw": "JSON", **dict.fromkeys(SEEN, "TIMESTAMPTZ"),
    }
    assert types["automation_default_inputs"] == {
        "id": "VARCHAR", "automation_id": "VARCHAR", "created_at": "TIMESTAMPTZ", "raw": "JSON",
        "harvested_at": "TIMESTAMPTZ",
    }


def test_api_fields_are_the_seeds_snake_case_names() -> None:
    """A typed column that comes from the API is named as the seed's field."""
    sourced = {(t.name, c.name): c.source for t in TABLES for c in t.columns if c.source is not None}
    assert all(source == column for (_, column), source in sourced.items())
    assert ("automations", "delete_time") in sourced and ("automation_triggers", "trigger_id") in sourced
