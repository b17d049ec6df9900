"""Harvest state kept inside the warehouse file: partition checkpoints, runs, and the run lock."""

from .checkpoints import (
    PARTITIONS_COLUMNS,
    PARTITIONS_TABLE,
    covered_until,
    load_checkpoints,
    pending_partitions,
    register_partitions,
    reset_partition,
    upsert_checkpoints,
)
from .lock import RunLock, lock_path_for
from .runs import RUNS_COLUMNS, RUNS_TABLE, finish_run, last_run, start_run

__all__ = [
    "PARTITIONS_COLUMNS",
    "PARTITIONS_TABLE",
    "RUNS_COLUMNS",
    "RUNS_TABLE",
    "RunLock",
    "covered_until",
    "finish_run",
    "last_run",
    "load_checkpoints",
    "lock_path_for",
    "pending_partitions",
    "register_partitions",
    "reset_partition",
    "start_run",
    "upsert_checkpoints",
]
