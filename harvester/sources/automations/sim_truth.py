"""Ground truth: the rows a correct harvester lands, per contract table, keyed by table key.

Rows are typed as the warehouse holds them (aware UTC datetimes, bools, ints, JSON as
Python values, `raw` the entry as served) and leave out what the writer stamps
(`harvested_at`, `first_seen_at`, `last_seen_at`, `removed_at`). A snapshot table's
row instead carries `removed`: True where a correct harvester has set `removed_at`.
Keys: the key value for one-column keys, a tuple for `automation_triggers`
(automation_id, trigger_id).

Truth assumes the harvester ran to completion once before every `mutate` (the
`Ledger` remembers each state a harvest could see) and once after the last:
- immutable tables (revisions, default inputs) hold every entry that ever existed,
  purged automations' included, since the first stored copy stays;
- snapshot tables hold the current rows, plus rows seen earlier and gone now,
  `removed` and with their last values: a purged automation (gone from its
  workspace's listing), a deleted schedule or trigger, and the schedule and triggers of
  a purged automation (their scope is gone; the source retires it).
A soft-deleted automation is not removed: it is still listed with show_deleted=true,
its row carries `delete_time`.
"""

from __future__ import annotations

import copy
from typing import Any

from sinks.tables import HARVESTED, SEEN, Table

from ...records import content_id
from ...simulator.rand import wire_to_datetime
from .sim_data import Automation, Platform
from .tables import (
    AUTOMATION_DEFAULT_INPUTS,
    AUTOMATION_REVISIONS,
    AUTOMATION_SCHEDULES,
    AUTOMATION_TRIGGERS,
    AUTOMATIONS,
    TABLES,
)

__all__ = ["Ledger", "Truth", "current_rows"]

Truth = dict[str, dict[Any, dict[str, Any]]]
_STAMPS = frozenset(c.name for c in (HARVESTED, *SEEN))


def _row(table: Table, entry: dict[str, Any], **context: Any) -> tuple[Any, dict[str, Any]]:
    """(key, row): `context` fills the columns the harvester derives, the table spec's
    `source` names the entry field of every other column."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in _STAMPS:
            continue
        if column.name in context:
            row[column.name] = context[column.name]
        elif column.name == "raw":
            row["raw"] = entry
        else:
            assert column.source is not None, f"{table.name}.{column.name} needs a context value"
            value = entry.get(column.source)
            row[column.name] = wire_to_datetime(value) if column.sql_type == "TIMESTAMPTZ" and value else value
    key = tuple(row[k] for k in table.key)
    return (key[0] if len(key) == 1 else key), row


def _rows_of(org: str, automation: Automation) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    ws, aid = automation.workspace_id, automation.id
    rows: dict[str, list[tuple[Any, dict[str, Any]]]] = {
        AUTOMATIONS.name: [_row(AUTOMATIONS, automation.body, id=aid, organization_id=org, workspace_id=ws)],
        AUTOMATION_REVISIONS.name: [
            _row(
                AUTOMATION_REVISIONS,
                rev,
                id=rev["name"],
                revision_id=rev["name"].rsplit("/", 1)[-1],
                automation_id=aid,
                workspace_id=ws,
            )
            for rev in automation.revisions
        ],
        AUTOMATION_TRIGGERS.name: [_row(AUTOMATION_TRIGGERS, t, automation_id=aid) for t in automation.triggers],
        AUTOMATION_DEFAULT_INPUTS.name: [
            _row(
                AUTOMATION_DEFAULT_INPUTS,
                entry,
                id=entry.get("id") or content_id(entry),
                automation_id=aid,
                created_at=wire_to_datetime(entry["create_time"]),
            )
            for entry in automation.default_inputs
        ],
        AUTOMATION_SCHEDULES.name: [],
    }
    if automation.schedule is not None:
        occurrences = automation.schedule.get("remaining_occurrences")
        rows[AUTOMATION_SCHEDULES.name].append(
            _row(AUTOMATION_SCHEDULES, automation.schedule, automation_id=aid, remaining_occurrences=occurrences)
        )
    return rows


def current_rows(platform: Platform) -> Truth:
    """What a harvest of the platform as it is now reads (soft-deleted automations included)."""
    truth: Truth = {table.name: {} for table in TABLES}
    for automation in platform.automations():
        for table, rows in _rows_of(platform.config.organization_id, automation).items():
            truth[table].update(rows)
    return truth


class Ledger:
    """Every row a harvest could have seen at an earlier state, for `removed` rows and
    for immutable entries whose automation was purged since."""

    def __init__(self) -> None:
        self._seen: Truth = {table.name: {} for table in TABLES}

    def remember(self, rows: Truth) -> None:
        for table, keyed in rows.items():
            self._seen[table].update(copy.deepcopy(keyed))

    def truth(self, current: Truth) -> Truth:
        result: Truth = {}
        for table in TABLES:
            now = copy.deepcopy(current[table.name])
            if table.is_snapshot:
                gone = {k: {**row, "removed": True} for k, row in self._seen[table.name].items() if k not in now}
                result[table.name] = {**gone, **{k: {**row, "removed": False} for k, row in now.items()}}
            else:
                result[table.name] = {**copy.deepcopy(self._seen[table.name]), **now}
        return result
