"""The alert outbox, `_alerts`: an alert is committed before it is sent.

A run writes its alert document here (status `pending`) in a transaction of its own,
then POSTs every pending alert, oldest first, and marks each `sent` once the
receiver accepts it. A crash or a failed POST leaves the row pending, so the next
run delivers it: at least once, never lost. `alert_id` is stable, so a receiver that
sees one twice (sent, then the process died before marking it) can drop the copy.
Functions take a connection and leave transactions to the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

__all__ = [
    "ALERTS_COLUMNS",
    "ALERTS_TABLE",
    "enqueue_alert",
    "last_cutoff",
    "mark_sent",
    "pending_alerts",
]

ALERTS_TABLE = "_alerts"
ALERTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("alert_id", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("cutoff", "TIMESTAMPTZ"),  # rows harvested up to here are covered by this alert
    ("status", "VARCHAR"),  # pending | sent
    ("attempts", "BIGINT"),
    ("sent_at", "TIMESTAMPTZ"),
    ("last_error", "VARCHAR"),
    ("document", "JSON"),
)


def enqueue_alert(
    con: duckdb.DuckDBPyConnection, alert_id: str, run_id: str, created_at: datetime, cutoff: datetime, document: str
) -> None:
    """Add an alert as pending (once per id: enqueuing the same id again changes nothing)."""
    con.execute(
        f"INSERT INTO {ALERTS_TABLE} (alert_id, run_id, created_at, cutoff, status, attempts, document) "
        "SELECT $id, $run, $created, $cutoff, 'pending', 0, $doc "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ALERTS_TABLE} WHERE alert_id = $id)",
        {"id": alert_id, "run": run_id, "created": created_at, "cutoff": cutoff, "doc": document},
    )


def last_cutoff(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Where the newest alert stopped: the next one reports what was harvested after it."""
    row = con.execute(f"SELECT max(cutoff) FROM {ALERTS_TABLE}").fetchone()
    return row[0] if row else None


def pending_alerts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(alert_id, document) of every alert not yet accepted, oldest first."""
    rows = con.execute(
        f"SELECT alert_id, document FROM {ALERTS_TABLE} WHERE status = 'pending' ORDER BY created_at, alert_id"
    ).fetchall()
    return [(str(a), str(d)) for a, d in rows]


def mark_sent(con: duckdb.DuckDBPyConnection, alert_id: str, error: str | None, at: datetime) -> None:
    """Record one delivery attempt: accepted (`error` None) or failed with a reason."""
    params: dict[str, Any] = {"id": alert_id, "at": at, "error": error}
    con.execute(
        f"UPDATE {ALERTS_TABLE} SET attempts = attempts + 1, last_error = $error, "
        "status = CASE WHEN $error IS NULL THEN 'sent' ELSE status END, "
        "sent_at = CASE WHEN $error IS NULL THEN $at ELSE sent_at END WHERE alert_id = $id",
        params,
    )
