"""Where every partition's cursor chain stands, kept in the `_partitions` table.

These functions take an open DuckDB connection and never begin or commit a
transaction: the `Warehouse` calls them inside its own, so that a page's rows and
the checkpoint that follows them commit together. The table has no primary key
(an ART index grows memory with row count); `key` stays unique because exactly one
writer updates-or-inserts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from state.errors import CheckpointError

from .partitions import Checkpoint, Partition

__all__ = [
    "MAX_CURSOR_CHARS",
    "PARTITIONS_COLUMNS",
    "PARTITIONS_TABLE",
    "covered_until",
    "load_checkpoints",
    "pending_partitions",
    "register_partitions",
    "reset_partition",
    "upsert_checkpoints",
]

PARTITIONS_TABLE = "_partitions"
PARTITIONS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "VARCHAR"),
    ("stream", "VARCHAR"),
    ("start", "TIMESTAMPTZ"),
    ("end", "TIMESTAMPTZ"),
    ("project_ids", "VARCHAR[]"),  # the partition's scope ids (named when only projects had scopes)
    ("cursor", "VARCHAR"),
    ("offset", "BIGINT"),
    ("done", "BOOLEAN"),
    ("pages", "BIGINT"),
    ("rows", "BIGINT"),
    ("run_id", "VARCHAR"),
    ("updated_at", "TIMESTAMPTZ"),
)

# The longest cursor a chain may carry. Real cursors are tens of characters; a
# longer one fails its partition before it is stored (harvester.paging), and one
# stored before the cap existed is read as "restart this chain", never loaded, so no
# stored state can make every later run fail.
MAX_CURSOR_CHARS = 4096

_CHECKPOINT_COLS = (
    f'key, CASE WHEN length(cursor) > {MAX_CURSOR_CHARS} THEN NULL ELSE cursor END, "offset", done, pages, rows'
)
_PARTITION_COLS = f'stream, start, "end", project_ids, {_CHECKPOINT_COLS}'


def register_partitions(
    con: duckdb.DuckDBPyConnection, run_id: str, partitions: Sequence[Partition]
) -> dict[str, Checkpoint]:
    """Insert the partitions not yet known (as not done) and return every one's checkpoint.

    A backfill re-planned after a kill yields the same keys, so the returned
    checkpoints let it resume each chain where it stopped; done chains stay done.
    Lists are passed as parameters and unnested, which inserts tens of thousands of
    partitions in one statement (DuckDB's executemany is far slower).
    """
    unique = list({p.key: p for p in partitions}.values())
    if not unique:
        return {}
    keys = [p.key for p in unique]
    con.execute(
        f"""
        INSERT INTO {PARTITIONS_TABLE}
            (key, stream, start, "end", project_ids, cursor, "offset", done, pages, rows,
             run_id, updated_at)
        SELECT n.key, n.stream, n.start, n."end", n.project_ids, NULL, 0, false, 0, 0, $run, now()
        FROM (
            SELECT unnest($keys::VARCHAR[]) AS key, unnest($streams::VARCHAR[]) AS stream,
                   unnest($starts::TIMESTAMPTZ[]) AS start, unnest($ends::TIMESTAMPTZ[]) AS "end",
                   unnest($pids::VARCHAR[][]) AS project_ids
        ) AS n
        WHERE NOT EXISTS (SELECT 1 FROM {PARTITIONS_TABLE} AS o WHERE o.key = n.key)
        """,
        {
            "run": run_id,
            "keys": keys,
            "streams": [p.stream for p in unique],
            "starts": [p.start for p in unique],
            "ends": [p.end for p in unique],
            "pids": [list(p.scopes) for p in unique],
        },
    )
    return load_checkpoints(con, keys)


def load_checkpoints(con: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> dict[str, Checkpoint]:
    """The stored checkpoint of each known key (unknown keys are left out)."""
    rows = con.execute(
        f"SELECT {_CHECKPOINT_COLS} FROM {PARTITIONS_TABLE} "
        "WHERE key IN (SELECT unnest($keys::VARCHAR[]))",
        {"keys": list(keys)},
    ).fetchall()
    return {row[0]: _checkpoint(row) for row in rows}


def upsert_checkpoints(
    con: duckdb.DuckDBPyConnection,
    run_id: str | None,
    advances: Iterable[tuple[Partition, Checkpoint]],
) -> None:
    """Store each partition's newest checkpoint; the last one given per key wins.

    A partition never registered (a caller that skipped `register_partitions`) is
    inserted from its own fields, so a committed page is never without its cursor.
    """
    latest: dict[str, tuple[Partition, Checkpoint]] = {}
    for partition, checkpoint in advances:
        latest[partition.key] = (partition, checkpoint)
    for key, (partition, cp) in latest.items():
        params: dict[str, Any] = {
            "key": key,
            "cursor": cp.cursor,
            "offset": cp.offset,
            "done": cp.done,
            "pages": cp.pages,
            "rows": cp.rows,
            "run": run_id,
        }
        (updated,) = _one(
            con.execute(
                f"""UPDATE {PARTITIONS_TABLE}
                SET cursor = $cursor, "offset" = $offset, done = $done, pages = $pages,
                    rows = $rows, run_id = coalesce($run, run_id), updated_at = now()
                WHERE key = $key""",
                params,
            )
        )
        if updated == 0:
            con.execute(
                f"""INSERT INTO {PARTITIONS_TABLE}
                (key, stream, start, "end", project_ids, cursor, "offset", done, pages, rows,
                 run_id, updated_at)
                VALUES ($key, $stream, $start, $end, $pids::VARCHAR[], $cursor, $offset, $done,
                        $pages, $rows, $run, now())""",
                {
                    **params,
                    "stream": partition.stream,
                    "start": partition.start,
                    "end": partition.end,
                    "pids": list(partition.scopes),
                },
            )


def pending_partitions(con: duckdb.DuckDBPyConnection) -> list[tuple[Partition, Checkpoint]]:
    """Every partition not done, from any run, oldest window first.

    Raises CheckpointError when a stored key no longer matches its fields (the state
    was edited by hand, or the key scheme changed): resuming such a row could
    attach a cursor to the wrong chain.
    """
    rows = con.execute(
        f"SELECT {_PARTITION_COLS} FROM {PARTITIONS_TABLE} "
        'WHERE NOT coalesce(done, false) ORDER BY start, stream, key'
    ).fetchall()
    result = []
    for stream, start, end, project_ids, *checkpoint in rows:
        partition = Partition(stream, start, end, tuple(project_ids or ()))
        if partition.key != checkpoint[0]:
            raise CheckpointError(
                f"partition {checkpoint[0]} in {PARTITIONS_TABLE} does not match its stream and "
                f"window ({partition.label()}); the state table was edited or is from another version"
            )
        result.append((partition, _checkpoint(checkpoint)))
    return result


def covered_until(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], datetime]:
    """For each (stream, scope) the furthest window end ever planned, done or not.

    Scope is "" for organization-wide partitions, else each project id of the
    partition's batch. Pending partitions count because they are resumed from the
    checkpoints, so an incremental run need not plan their windows again.
    """
    rows = con.execute(
        f"""
        SELECT stream, '' AS scope, max("end") FROM {PARTITIONS_TABLE}
        WHERE coalesce(len(project_ids), 0) = 0 GROUP BY stream
        UNION ALL
        SELECT stream, scope, max("end") FROM (
            SELECT stream, unnest(project_ids) AS scope, "end" FROM {PARTITIONS_TABLE}
        ) GROUP BY stream, scope
        """
    ).fetchall()
    return {(stream, scope): end for stream, scope, end in rows}


def reset_partition(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Forget a chain's cursor and offset so it restarts from its first page.

    For when the server refuses a stored cursor. The chain is marked not done; its
    page and row counters are kept (rows re-fetched are deduplicated on insert).
    Returns whether the key was known.
    """
    (updated,) = _one(
        con.execute(
            f"""UPDATE {PARTITIONS_TABLE}
            SET cursor = NULL, "offset" = 0, done = false, updated_at = now() WHERE key = $key""",
            {"key": key},
        )
    )
    return bool(updated)


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    key, cursor, offset, done, pages, rows = row
    return Checkpoint(
        partition_key=key,
        cursor=cursor,
        offset=int(offset or 0),
        done=bool(done),
        pages=int(pages or 0),
        rows=int(rows or 0),
    )


def _one(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    row = result.fetchone()
    if row is None:  # DML always reports a count; be explicit rather than crash on None
        return (0,)
    return row
