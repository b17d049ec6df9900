"""The lake mirrors the warehouse exactly, rewrites only what changed, survives a kill,
and never writes outside its root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import duckdb
import pyarrow.parquet as pq
import pytest

from harvester.errors import SinkError
from harvester.runner import Incremental, harvest
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from harvester.timeutil import floor_day, utc_now
from sinks import Warehouse
from sinks.lake import ROW_GROUP_ROWS, mirror, query_lake
from tests.lake.conftest import LAKE_TABLES, lake_table

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

from .conftest import (
    START,
    assert_big_table_equal,
    assert_lake_equals_warehouse,
    changed_partitions,
    harvest_backfill,
    lake_files,
    lake_rows_duckdb,
    lake_rows_pyarrow,
    make_settings,
    temp_files,
    warehouse_days,
    warehouse_rows,
)

WINDOWED = tuple(t for t in LAKE_TABLES if lake_table(t).day_column)


def test_after_a_backfill_the_lake_equals_the_warehouse_in_every_table(small_org, tmp_path: Path) -> None:
    """pyarrow.dataset and DuckDB read_parquet(hive_partitioning) both read back every
    warehouse table row for row (rejects included), one file per partition, typed like
    the warehouse; a second sync with nothing new rewrites nothing."""
    server = small_org(malformed_rate=0.02)
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    harvest_backfill(server, path)
    rewritten = mirror(path, str(root))
    assert rewritten["project_action_logs"] == 8 and rewritten["members"] == 1
    assert warehouse_rows(path, "_rejects"), "the simulator served malformed entries"
    assert_lake_equals_warehouse(path, root)
    files = lake_files(root)
    assert {p for t, p in files if t == "executions"} == {f"date=2025-01-0{d}" for d in range(1, 9)}
    assert ("members", "") in files and ("_rejects", "") in files
    for (table, partition), (name, _, _) in files.items():
        parquet = pq.ParquetFile(root / table / partition / name)
        assert parquet.schema_arrow == lake_table(table).schema, table
        column = parquet.metadata.row_group(0).column(0)
        assert column.compression == "ZSTD" and column.is_stats_set
    assert sum(mirror(path, str(root)).values()) == 0
    assert lake_files(root) == files


def test_an_incremental_run_rewrites_only_the_days_it_touched(small_org, tmp_path: Path) -> None:
    """A second `run` re-reads a day of executions and consumption (newest wins) and
    lands a few new log entries: exactly the day partitions holding rows harvested by
    that run are rewritten (plus the snapshots, re-read every run); every other
    partition's file is left as it was."""
    end = utc_now()
    start = floor_day(end) - timedelta(days=6)
    server = small_org(start=start, end=end)
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    settings = make_settings(server, path, start=start, lookback="1d")
    assert anyio.run(harvest, settings, Incremental()).status == "ok"
    mirror(path, str(root))
    before, mark = lake_files(root), utc_now()
    time.sleep(0.01)  # the next run's stamps are strictly later than the mark
    server.sim.inject("auth_attempt_logs", 2, created_at=mark - timedelta(minutes=1))  # late arrivals
    server.sim.inject("project_action_logs", 1, created_at=mark - timedelta(minutes=1))
    assert anyio.run(harvest, settings, Incremental()).status == "ok"
    rewritten = mirror(path, str(root))
    expected = _partitions_harvested_after(path, mark)
    assert changed_partitions(before, lake_files(root)) == expected
    for table in LAKE_TABLES:
        assert rewritten[table] == sum(1 for t, _ in expected if t == table), table
    assert {p for t, p in expected if t == "auth_attempt_logs"}, "the new log entries' day was rewritten"
    days = {p for t, p in before if t == "executions"}
    assert 0 < len({p for t, p in expected if t == "executions"}) <= 3 < len(days)
    assert not {t for t, _ in expected} & {"organization_action_logs", "email_notification_logs"}
    assert_lake_equals_warehouse(path, root)


def _partitions_harvested_after(path: Path, mark: datetime) -> set[tuple[str, str]]:
    """(table, partition) holding a row stamped after `mark`: what a sync must rewrite.
    Windowed tables by `harvested_at`; flat ones by last_seen_at/removed_at (rejected_at)."""
    out = set()
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        for table in LAKE_TABLES:
            spec = lake_table(table)
            if spec.day_column:
                key = f"strftime(timezone('UTC', {spec.day_column}), 'date=%Y-%m-%d')"
                where = "harvested_at > $mark"
            else:
                key = "''"
                where = f"{spec.newest} > $mark" + (" OR removed_at > $mark" if table != "_rejects" else "")
            rows = con.execute(f"SELECT DISTINCT {key} FROM {table} WHERE {where}", {"mark": mark}).fetchall()
            out |= {(table, r[0]) for r in rows}
    return out


_KILLABLE = """
import sys, time
from pathlib import Path
import pyarrow.parquet as pq
from harvester.logs import configure_logging
from sinks.lake import mirror
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

configure_logging(json=True, level="warning")  # stdout carries only our two markers
real, calls = pq.ParquetWriter.write_table, [0]
def write_then_hang(self, *args, **kwargs):
    real(self, *args, **kwargs)
    calls[0] += 1
    if calls[0] == int(sys.argv[3]):
        print("paused mid-file", flush=True)
        time.sleep(600)
pq.ParquetWriter.write_table = write_then_hang
mirror(Path(sys.argv[1]), sys.argv[2])
print("finished", flush=True)
"""


def test_a_mirror_killed_mid_write_leaves_a_readable_lake_and_the_next_sync_repairs_it(
    small_org, tmp_path: Path
) -> None:
    """SIGKILL the mirror while a partition file is half written: both readers still read
    the lake, each partition is wholly its old or its new version (no key twice), and
    the next sync brings the lake back to equal the warehouse and removes the leftovers."""
    server = small_org()
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    harvest_backfill(server, path)
    mirror(path, str(root))
    old = {t: _by_day(t, lake_rows_duckdb(str(root), t)) for t in WINDOWED}
    with duckdb.connect(str(path)) as con:  # what a run would do: replace executions, add log entries
        con.execute(
            "UPDATE executions SET status = 'finished', harvested_at = now() "
            "WHERE created_at < TIMESTAMPTZ '2025-01-05 00:00:00+00'"
        )
        con.execute(
            "INSERT INTO auth_attempt_logs (id, created_at, email, status, raw, harvested_at) "
            "SELECT 'late-' || i, TIMESTAMPTZ '2025-01-02 12:00:00+00' + i * INTERVAL 1 DAY, 'x@y', "
            "'success', '{}', now() FROM range(2) r(i)"
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(path), str(root), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else b""
        if line == b"paused mid-file\n":
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
    assert line == b"paused mid-file\n", (line, err.decode()[-2000:])
    assert temp_files(root), "killed with a half-written file"
    new_seen = stale_seen = False
    for table in WINDOWED:
        want = warehouse_days(path, table)
        for reader in (lake_rows_pyarrow, lake_rows_duckdb):
            got = _by_day(table, reader(str(root), table))
            for day in got.keys() | want.keys() | old[table].keys():
                assert got.get(day) in (old[table].get(day), want.get(day)), f"{table}/{day} is mixed"
            new_seen |= any(got.get(d) == want.get(d) != old[table].get(d) for d in got)
            stale_seen |= any(got.get(d) == old[table].get(d) != want.get(d) for d in got)
    assert new_seen and stale_seen, "the kill landed between two rewritten partitions"
    rewritten = mirror(path, str(root))
    assert rewritten["auth_attempt_logs"] == 0, "partitions finished before the kill are not redone"
    assert rewritten["executions"] == 4
    assert not temp_files(root)
    assert_lake_equals_warehouse(path, root)


def _by_day(table: str, rows: list[tuple[object, ...]]) -> dict[str, list[tuple[object, ...]]]:
    names = [c for c, _ in lake_table(table).columns]
    column = names.index(lake_table(table).day_column or "")
    out: dict[str, list[tuple[object, ...]]] = {}
    for row in rows:
        out.setdefault(f"date={str(row[column])[:10]}", []).append(row)
    return out


def test_hostile_ids_never_become_paths_and_a_tampered_manifest_is_not_followed(tmp_path: Path) -> None:
    """A project id `../../etc`, an id `../../../x` and a metric with slashes land as data
    only; a manifest edited to list `../../victim.parquet` is ignored (the table is
    rebuilt) and the file outside the lake is never touched."""
    from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
    from harvester.planner import Partition

    path, root = tmp_path / "w.duckdb", tmp_path / "a" / "b" / "lake"
    when = START + timedelta(hours=5)
    hostile = "../../etc"
    with Warehouse.open(path, ABSTRA_TABLES) as warehouse:
        for table, row in (
            ("executions", {"id": "../../../x", "created_at": when, "project_id": hostile, "status": "ok", "raw": {}}),
            (
                "consumption",
                {
                    "project_id": hostile,
                    "period_start": when,
                    "period_end": when,
                    "metric": "a/../../b",
                    "value": 1.0,
                    "raw": {},
                },
            ),
        ):
            part = Partition(table, START, START + timedelta(days=1), (hostile,))
            warehouse.commit_pages([PageWrite(part, table, [row], Checkpoint(part.key, done=True))])
        warehouse.commit_snapshot(
            SnapshotWrite(
                "project_tables",
                hostile,
                [
                    {
                        "project_id": hostile,
                        "id": "../../../../tmp/evil",
                        "name": "/etc/passwd",
                        "columns": [],
                        "raw": {},
                    }
                ],
                when,
            )
        )
    mirror(path, str(root))
    assert_lake_equals_warehouse(path, root, ("executions", "consumption", "project_tables"))
    assert warehouse_rows(path, "executions")[0][2] == hostile
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents and p.parent != tmp_path]
    assert outside == [], outside
    for file in root.rglob("*"):
        rel = file.relative_to(root).parts
        assert rel[0] in LAKE_TABLES and all(s.startswith(("date=", "part", "_manifest")) for s in rel[1:]), rel
    victim = tmp_path / "a" / "victim.parquet"
    victim.write_bytes(b"not yours")
    manifest = root / "executions" / "_manifest.json"
    manifest.write_text(manifest.read_text().replace('"part.parquet"', '"../../victim.parquet"'))
    assert mirror(path, str(root))["executions"] == 1, "an untrusted manifest means a rebuild"
    assert victim.read_bytes() == b"not yours"
    assert_lake_equals_warehouse(path, root, ("executions",))
    with pytest.raises(SinkError, match="refusing"):
        from sinks.lake_fs import LakeFS

        LakeFS.open(str(root)).path("executions", "date=../..")


def test_large_partitions_are_split_into_row_groups_and_gone_days_are_dropped(tmp_path: Path) -> None:
    """300k rows in one day: one file of 128k-row groups (zstd, statistics); a day
    deleted from the warehouse disappears from the lake, folder included."""
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    Warehouse.open(path, ABSTRA_TABLES).close()
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO project_action_logs (id, created_at, project_id, event, raw, harvested_at) "
            "SELECT 'syn-' || i, TIMESTAMPTZ '2025-03-01 00:00:00+00' + i * INTERVAL 100 MILLISECOND, "
            "'p' || (i % 7), 'e', '{\"i\": ' || i || '}', now() FROM range(300000) r(i)"
        )
        con.execute(
            "INSERT INTO project_action_logs (id, created_at, raw, harvested_at) "
            "VALUES ('gone', TIMESTAMPTZ '2025-03-05 10:00:00+00', '{}', now())"
        )
    assert mirror(path, str(root), tables=["project_action_logs"]) == {"project_action_logs": 2}
    file = pq.ParquetFile(root / "project_action_logs" / "date=2025-03-01" / "part.parquet")
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 300_000 - 2 * ROW_GROUP_ROWS]
    stats = file.metadata.row_group(0).column(1).statistics
    assert stats.has_min_max and str(stats.min).startswith("2025-03-01")
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM project_action_logs WHERE id = 'gone'")
    mirror(path, str(root), tables=["project_action_logs"])
    assert not (root / "project_action_logs" / "date=2025-03-05").exists()
    assert_big_table_equal(path, root, "project_action_logs")


def test_export_rebuilds_a_range_or_everything_on_top_of_what_changed(small_org, tmp_path: Path) -> None:
    """`since`/`until` rewrite the day partitions overlapping [since, until) and the
    snapshot tables; `full` rewrites every partition; neither changes the lake's rows."""
    server = small_org()
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    harvest_backfill(server, path)
    mirror(path, str(root))
    ranged = mirror(path, str(root), since=START + timedelta(days=2), until=START + timedelta(days=4))
    assert ranged["executions"] == 2 and ranged["consumption"] == 2 and ranged["members"] == 1
    assert mirror(path, str(root), tables=["executions"], full=True) == {"executions": 8}
    assert_lake_equals_warehouse(path, root)


def test_sql_over_the_lake_gives_the_warehouse_answers_and_refuses_writes(small_org, tmp_path: Path) -> None:
    """`query_lake` (what `harvester sql --lake` runs) answers the README's kind of queries,
    JSON operators included, exactly like the warehouse; it refuses anything but reads."""
    server = small_org()
    path, root = tmp_path / "w.duckdb", tmp_path / "lake"
    harvest_backfill(server, path)
    mirror(path, str(root))
    queries = [
        "select count(*), count(distinct id), min(created_at), max(created_at) from project_action_logs",
        "select raw->>'event' as e, count(*) from project_action_logs group by 1 order by 2 desc, 1",
        "select p.name, count(*) from executions e join projects p on p.id = e.project_id group by 1 order by 1",
        "select metric, round(sum(value), 3), count(*) from consumption group by 1 order by 1",
        "select * from members order by id",
        "select count(*) from _rejects",
    ]
    with Warehouse.open_read_only(path) as warehouse:
        for sql in queries:
            assert query_lake(str(root), sql) == warehouse.query(sql), sql
    with pytest.raises(SinkError, match="read-only"):
        query_lake(str(root), "create table x as select 1")
