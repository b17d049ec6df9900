"""The two tables the flows source fills.

`flow_execution_counts` holds one row per (UTC day, grouping, key): one reply of
`/icenter/executions` for one day and one `groupby` is the complete set of counts for
that pair, so the newest reply replaces the group (a key that drops to zero vanishes).

`flow_logs` keeps every log entry once. The endpoint has no paging or time filter, so
each run re-reads it whole and the key (the entry's id, else a hash of its content)
deduplicates. Every column is filled by `records.log_row`, which knows the field
spellings, hence no `source` on the columns.
"""

from __future__ import annotations

from sinks.tables import FirstWins, ReplaceGroup, Table, col

__all__ = ["FLOW_EXECUTION_COUNTS", "FLOW_LOGS", "TABLES"]

FLOW_EXECUTION_COUNTS = Table.of(
    "flow_execution_counts",
    (col("day", "DATE"), col("group_by"), col("key"), col("count", "BIGINT")),
    key=("day", "group_by", "key"),
    merge=ReplaceGroup(("day", "group_by")),
    day_column="day",
)

FLOW_LOGS = Table.of(
    "flow_logs",
    (
        col("id"),
        col("tenant"),
        col("flow_id"),
        col("step_id"),
        col("created_at", "TIMESTAMPTZ"),
        col("is_error", "BOOLEAN"),
    ),
    key=("id",),
    merge=FirstWins(),
    day_column="created_at",
)

TABLES: dict[str, Table] = {table.name: table for table in (FLOW_EXECUTION_COUNTS, FLOW_LOGS)}
