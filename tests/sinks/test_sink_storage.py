"""Storage faults: the real cause reaches the user as a StorageError naming the file.

A corrupt block is the portable way to make storage fail mid-transaction: DuckDB
verifies each block's checksum when it reads it, so damaging the block that holds a
table's `id` column fails the merge that probes it, inside the commit's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from harvester.errors import ExitCode, StorageError
from harvester.pages import Checkpoint, PageWrite
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

T0 = datetime(2025, 5, 1, tzinfo=UTC)
PART = Partition("executions", T0, T0 + timedelta(days=1), ("p1",))
_HEADER = 3 * 4096  # DuckDB's file header: three 4 KiB blocks before the first data block


def executions(n: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {"id": f"e{i}", "project_id": "p1", "created_at": T0 + timedelta(seconds=i), "raw": {}}
        for i in range(first, first + n)
    ]


def commit(wh: Warehouse, rows: list[dict[str, object]], pages: int) -> None:
    wh.commit_pages([PageWrite(PART, "executions", rows, Checkpoint(PART.key, pages=pages))])


def corrupt_column(path: Path, table: str, column: str) -> None:
    """Overwrite the start of the block holding `table.column` (its checksum then fails)."""
    with duckdb.connect(str(path), read_only=True) as con:
        block, offset, block_size = con.execute(
            "SELECT block_id, block_offset, (SELECT block_size FROM pragma_database_size()) "
            f"FROM pragma_storage_info('{table}') WHERE column_name = ? AND segment_type <> 'VALIDITY' "
            "AND persistent LIMIT 1",
            [column],
        ).fetchone()
    with path.open("r+b") as fh:
        fh.seek(_HEADER + block * block_size + 8 + offset)  # 8: past the block's stored checksum
        fh.write(b"\xff" * 64)


def corrupt_warehouse(path: Path) -> Path:
    """A warehouse whose executions `id` block is damaged; the catalog is intact, so it opens."""
    with Warehouse.open(path, ABSTRA_TABLES) as wh:
        wh.register_partitions("r1", [PART])
        commit(wh, executions(100), 1)
    corrupt_column(path, "executions", "id")
    return path


def test_a_failure_mid_transaction_shows_its_cause_not_the_aborted_transaction(wh_path: Path) -> None:
    """Issue 7.9: `_staged`'s DROP in a `finally` used to replace the checksum error with
    "Current transaction is aborted"; the user must see the real cause and the file."""
    corrupt_warehouse(wh_path)
    with Warehouse.open(wh_path, ABSTRA_TABLES) as wh, pytest.raises(StorageError) as caught:
        commit(wh, executions(3, first=5), 2)
    message = str(caught.value)
    assert "checksum" in message and "Corrupt database file" in message
    assert "transaction is aborted" not in message
    assert str(wh_path) in message and "\n" not in message
    assert caught.value.exit_code == ExitCode.STORAGE


def test_the_failed_commit_left_nothing_and_later_reads_still_name_the_cause(wh_path: Path) -> None:
    corrupt_warehouse(wh_path)
    with Warehouse.open(wh_path, ABSTRA_TABLES) as wh:
        with pytest.raises(StorageError):
            commit(wh, executions(3, first=500), 2)
        checkpoints = dict((p.key, c.pages) for p, c in wh.pending_partitions())
    assert checkpoints == {PART.key: 1}  # the checkpoint of the failed batch never landed
    with Warehouse.open_read_only(wh_path) as wh, pytest.raises(StorageError, match="checksum"):
        wh.query("SELECT count(DISTINCT id) FROM executions")
