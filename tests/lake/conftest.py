"""Helpers: a warehouse harvested from the simulator, and the lake read back three ways.

Rows are compared as sorted tuples in the warehouse's column order, with timestamps
normalised to UTC ISO text, so a difference prints as the rows that differ.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from harvester.runner import Backfill, harvest
from harvester.simulator import ServerHandle
from harvester.sources.abstra.streams import TABLES as _ABSTRA
from sinks.lake import lake_tables

_LAYOUTS = lake_tables(_ABSTRA.values())
LAKE_TABLES = tuple(_LAYOUTS)  # the Abstra tables and `_rejects`, as a harvest lays them out


def lake_table(name: str):  # noqa: ANN201 - the layout of one table, by name
    return _LAYOUTS[name]

from tests.integration.conftest import START, SimFactory, make_settings, simulator  # noqa: F401 - fixture

Row = tuple[Any, ...]
Files = dict[tuple[str, str], tuple[str, int, int]]  # (table, partition) -> (name, inode, mtime_ns)

END = START + timedelta(days=8)


def norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted((tuple(norm(v) for v in r) for r in rows), key=repr)


def warehouse_rows(path: Path, table: str) -> list[Row]:
    cols = ", ".join(f'"{c}"' for c, _ in lake_table(table).columns)
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return _sorted(con.execute(f'SELECT {cols} FROM "{table}"').fetchall())


def warehouse_days(path: Path, table: str) -> dict[str, list[Row]]:
    """Warehouse rows grouped by the lake partition they belong in."""
    spec = lake_table(table)
    out: dict[str, list[Row]] = {}
    names = [c for c, _ in spec.columns]
    for row in warehouse_rows(path, table):
        key = ""
        if spec.day_column:
            stamp = row[names.index(spec.day_column)]
            key = f"date={stamp[:10]}"
        out.setdefault(key, []).append(row)
    return out


def lake_rows_pyarrow(root: str, table: str, filesystem: pafs.FileSystem | None = None) -> list[Row]:
    """The table read as a Hive-partitioned directory (plain listing, no manifest)."""
    spec = lake_table(table)
    dataset = ds.dataset(root + "/" + table, format="parquet", partitioning="hive", filesystem=filesystem)
    if not dataset.files:
        return []
    data = dataset.to_table()
    names = [c for c, _ in spec.columns]
    rows = data.select(names).to_pylist()
    if spec.day_column and data.num_rows:
        for day, rec in zip(data.column("date").to_pylist(), rows, strict=True):
            assert str(day) == norm(rec[spec.day_column])[:10], "row in the wrong day partition"
    return _sorted([tuple(r[c] for c in names) for r in rows])


def lake_rows_duckdb(root: str, table: str) -> list[Row]:
    """The table read with DuckDB's `read_parquet(..., hive_partitioning = true)` over a glob."""
    spec = lake_table(table)
    cols = ", ".join(f'"{c}"' for c, _ in spec.columns)
    pattern = f"{root}/{table}/*/*.parquet" if spec.day_column else f"{root}/{table}/*.parquet"
    if not any(Path(root, table).rglob("*.parquet")):
        return []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        if spec.day_column:
            bad = con.execute(
                f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true) "
                f"WHERE date <> CAST(timezone('UTC', \"{spec.day_column}\") AS DATE)"
            ).fetchone()
            assert bad == (0,), "row in the wrong day partition"
        rows = con.execute(f"SELECT {cols} FROM read_parquet('{pattern}', hive_partitioning = true)").fetchall()
        return _sorted(rows)


def assert_lake_equals_warehouse(path: Path, root: Path, tables: tuple[str, ...] = LAKE_TABLES) -> None:
    """Every table, read with pyarrow.dataset and with DuckDB, equals the warehouse row for row."""
    for table in tables:
        want = warehouse_rows(path, table)
        assert_same_rows(lake_rows_pyarrow(str(root), table), want, f"{table} via pyarrow.dataset")
        assert_same_rows(lake_rows_duckdb(str(root), table), want, f"{table} via DuckDB read_parquet")


def assert_big_table_equal(path: Path, root: Path, table: str) -> None:
    """The same check for a big table, done in DuckDB (EXCEPT ALL both ways) for speed."""
    spec = lake_table(table)
    cols = ", ".join(f'"{c}"' for c, _ in spec.columns)
    wcols = ", ".join(f'CAST("{c}" AS VARCHAR)' if t == "JSON" else f'"{c}"' for c, t in spec.columns)
    pattern = f"{root}/{table}/*/*.parquet" if spec.day_column else f"{root}/{table}/*.parquet"
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{path}' AS w (READ_ONLY)")
        con.register("pyarrow_lake", ds.dataset(f"{root}/{table}", format="parquet", partitioning="hive"))
        for source in ("pyarrow_lake", f"read_parquet('{pattern}', hive_partitioning = true)"):
            lake, ware = f"SELECT {cols} FROM {source}", f'SELECT {wcols} FROM w."{table}"'
            diff = con.execute(
                f"SELECT (SELECT count(*) FROM ({ware} EXCEPT ALL {lake})), "
                f"(SELECT count(*) FROM ({lake} EXCEPT ALL {ware})), (SELECT count(*) FROM ({lake}))"
            ).fetchone()
            assert diff is not None and diff[:2] == (0, 0) and diff[2] > 0, (table, source, diff)


def assert_same_rows(got: list[Row], want: list[Row], what: str) -> None:
    if got != want:
        g, w = Counter(got), Counter(want)
        extra, missing = list((g - w).elements()), list((w - g).elements())
        raise AssertionError(f"{what}: {len(missing)} missing, {len(extra)} extra; e.g. {(missing or extra)[:2]}")


def lake_files(root: Path) -> Files:
    """Every final data file: (table, partition) -> (name, inode, mtime_ns)."""
    out: Files = {}
    for table in LAKE_TABLES:
        for file in Path(root, table).rglob("*.parquet"):
            partition = file.parent.name if file.parent.name.startswith("date=") else ""
            stat = file.stat()
            assert (table, partition) not in out, f"two files in {table}/{partition}"
            out[(table, partition)] = (file.name, stat.st_ino, stat.st_mtime_ns)
    return out


def changed_partitions(before: Files, after: Files) -> set[tuple[str, str]]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp")]


def harvest_backfill(server: ServerHandle, path: Path, start: datetime = START, end: datetime = END) -> None:
    report = anyio.run(harvest, make_settings(server, path), Backfill(start, end))
    assert report.status == "ok", report.failures


@pytest.fixture
def small_org(simulator: SimFactory) -> Callable[..., ServerHandle]:  # noqa: F811 - the imported fixture
    """A small simulated organization: few projects, a week of history, a handful of rows per day."""

    def make(**overrides: Any) -> ServerHandle:
        config: dict[str, Any] = {
            "projects": 3,
            "members": 4,
            "start": START,
            "end": END,
            "executions_per_project_per_day": 2,
            "events_per_day": {
                "organization_action_logs": 4,
                "project_action_logs": 20,
                "auth_attempt_logs": 6,
                "email_notification_logs": 4,
                "connector_action_logs": 10,
                "ai_prompt_logs": 3,
            },
        }
        return simulator(**{**config, **overrides})

    return make


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AWS variables from the machine leak into a test (or out of one)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    yield


def day(text: str) -> date:
    return date.fromisoformat(text)
