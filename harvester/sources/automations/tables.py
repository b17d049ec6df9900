"""The five warehouse tables of the `automations` source (seed 001). Names and keys are a contract.

Columns carry the seed's snake_case field names as `source`, so one row builder types
them all. Context columns (`organization_id`, `workspace_id`, `automation_id`) and
derived keys have no source: the harvester fills them from the request path.

Why these merge rules:
- `automations`, `automation_schedules`, `automation_triggers` are current state, re-read
  whole (a workspace's listing, one automation's schedule or triggers), so they are
  snapshots scoped to what one complete read covers.
- revisions and default-inputs history entries never change once written (AIP-162
  revisions are immutable snapshots), so the first stored copy stays.

No table has a lake `day_column`: every time field here is optional in the seed, and a
day partition needs a value on every row.
"""

from __future__ import annotations

from sinks.tables import Column, FirstWins, Snapshot, Table, col

__all__ = [
    "AUTOMATIONS",
    "AUTOMATION_DEFAULT_INPUTS",
    "AUTOMATION_REVISIONS",
    "AUTOMATION_SCHEDULES",
    "AUTOMATION_TRIGGERS",
    "TABLES",
]


def _field(name: str, sql_type: str = "VARCHAR") -> Column:
    """A column named as the API field it comes from."""
    return col(name, sql_type, name)


AUTOMATIONS = Table.of(
    "automations",
    (
        col("id"),  # the automation id: `name`'s last segment (see records.automation_id_of)
        col("organization_id"),
        col("workspace_id"),
        _field("display_name"),
        _field("description"),
        _field("version"),
        _field("activation_state"),
        _field("author_id"),
        _field("create_time", "TIMESTAMPTZ"),
        _field("update_time", "TIMESTAMPTZ"),
        _field("update_user_id"),
        _field("publish_time", "TIMESTAMPTZ"),
        _field("publish_user_id"),
        _field("latest_published_version"),
        _field("delete_time", "TIMESTAMPTZ"),
    ),
    ("id",),
    Snapshot(scope_column="workspace_id"),  # one listing (show_deleted=true, every page) covers a workspace
    newest_column="update_time",
)

AUTOMATION_REVISIONS = Table.of(
    "automation_revisions",
    (
        col("id"),  # the revision's full resource name
        col("automation_id"),
        col("workspace_id"),
        col("revision_id"),  # the name's last segment, a version string such as "1.0"
        _field("create_time", "TIMESTAMPTZ"),
        _field("alternate_ids", "JSON"),
    ),
    ("id",),
    FirstWins(),
    newest_column="create_time",
)

AUTOMATION_SCHEDULES = Table.of(
    "automation_schedules",
    (
        col("automation_id"),
        _field("enabled", "BOOLEAN"),
        _field("summary"),
        _field("next_run_times", "JSON"),
        # BIGINT has no converter in harvester.records.RowBuilder yet: records.py types it
        col("remaining_occurrences", "BIGINT"),
    ),
    ("automation_id",),
    Snapshot(scope_column="automation_id"),  # at most one schedule per automation
)

AUTOMATION_TRIGGERS = Table.of(
    "automation_triggers",
    (
        col("automation_id"),
        _field("trigger_id"),
        _field("phase_type"),
        _field("phase_sub_type"),
        _field("is_active", "BOOLEAN"),
    ),
    ("automation_id", "trigger_id"),
    Snapshot(scope_column="automation_id"),  # one List Automation Triggers chain covers an automation
)

AUTOMATION_DEFAULT_INPUTS = Table.of(
    "automation_default_inputs",
    (
        _field("id"),  # the entry's id, else a content hash (harvester.records.content_id)
        col("automation_id"),
        col("created_at", "TIMESTAMPTZ"),  # the entry's time, whichever field carries it (records.entry_time)
    ),
    ("id",),
    FirstWins(),
    newest_column="created_at",
)

TABLES: tuple[Table, ...] = (
    AUTOMATIONS,
    AUTOMATION_REVISIONS,
    AUTOMATION_SCHEDULES,
    AUTOMATION_TRIGGERS,
    AUTOMATION_DEFAULT_INPUTS,
)
