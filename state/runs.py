"""One row per harvester invocation in `_runs`, so `status` can say how the last run went.

Like the checkpoint functions these take a connection and leave transactions to
the caller. A run that was killed keeps status "running" with no `ended_at`: that
is the truthful record, and `status` shows it as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import orjson

__all__ = ["RUNS_COLUMNS", "RUNS_TABLE", "finish_run", "last_run", "start_run"]

RUNS_TABLE = "_runs"
RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("command", "VARCHAR"),
    ("started_at", "TIMESTAMPTZ"),
    ("ended_at", "TIMESTAMPTZ"),
    ("status", "VARCHAR"),
    ("stats", "JSON"),
)

_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, command: str, started_at: datetime
) -> None:
    """Record a run as "running"; starting the same id again restarts its record.

    The caller holds the run lock, so any other run still marked "running" died
    without finishing (SIGKILL, power loss): it is marked "killed" so `status` and
    `_runs` never show a ghost run as in progress."""
    con.execute(f"UPDATE {RUNS_TABLE} SET status = 'killed' WHERE status = 'running'")
    con.execute(f"DELETE FROM {RUNS_TABLE} WHERE run_id = $id", {"id": run_id})
    con.execute(
        f"INSERT INTO {RUNS_TABLE} (run_id, command, started_at, ended_at, status, stats) "
        "VALUES ($id, $command, $started, NULL, 'running', NULL)",
        {"id": run_id, "command": command, "started": started_at},
    )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    ended_at: datetime,
    stats: dict[str, Any],
) -> None:
    """Close a run with its outcome and stats (e.g. rows/pages/errors/rejects per stream).

    A run never started (the caller skipped `start_run`) is inserted rather than
    lost, with `started_at` left NULL.
    """
    params = {
        "id": run_id,
        "status": status,
        "ended": ended_at,
        "stats": orjson.dumps(stats, option=_JSON_OPTIONS).decode(),
    }
    row = con.execute(
        f"UPDATE {RUNS_TABLE} SET status = $status, ended_at = $ended, stats = $stats::JSON "
        "WHERE run_id = $id",
        params,
    ).fetchone()
    if not row or row[0] == 0:
        con.execute(
            f"INSERT INTO {RUNS_TABLE} (run_id, command, started_at, ended_at, status, stats) "
            "VALUES ($id, NULL, NULL, $ended, $status, $stats::JSON)",
            params,
        )


def last_run(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The most recently started run as a dict (stats decoded), or None when there is none."""
    row = con.execute(
        f"SELECT run_id, command, started_at, ended_at, status, stats FROM {RUNS_TABLE} "
        "ORDER BY started_at DESC NULLS LAST, ended_at DESC NULLS LAST LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    record = dict(zip([name for name, _ in RUNS_COLUMNS], row, strict=True))
    record["stats"] = orjson.loads(record["stats"]) if record["stats"] is not None else None
    return record
