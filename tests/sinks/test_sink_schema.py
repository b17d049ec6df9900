"""The DDL: every registry table, no keys or indexes, additive migrations."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import sinks
from harvester.errors import ConfigError
from harvester.sources.abstra.streams import TABLES
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse, parse_size
from sinks.schema import create_table_sql, quote_ident
from sinks.staging import Stager

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())


def columns(path: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()


def test_every_registry_table_and_state_table_is_created(wh_path: Path) -> None:
    Warehouse.open(wh_path, ABSTRA_TABLES).close()
    with duckdb.connect(str(wh_path), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        constraints = con.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
        ).fetchone()
        indexes = con.execute("SELECT count(*) FROM duckdb_indexes()").fetchone()
    assert names == {*TABLES, "_rejects", "_partitions", "_runs", "_tables", "_alerts", "_marks"}
    assert constraints == (0,) and indexes == (0,)  # keys would grow memory with row count


def test_column_types_follow_the_registry(wh_path: Path) -> None:
    Warehouse.open(wh_path, ABSTRA_TABLES).close()
    for name, table in TABLES.items():
        expected = [(c.name, "TIMESTAMP WITH TIME ZONE" if c.sql_type == "TIMESTAMPTZ" else c.sql_type)
                    for c in table.columns]
        assert columns(wh_path, name) == expected


def test_an_older_table_gains_the_missing_columns_and_keeps_its_rows(wh_path: Path) -> None:
    with duckdb.connect(str(wh_path)) as con:
        con.execute("CREATE TABLE members (id VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO members VALUES ('m1', 'a@x')")
    Warehouse.open(wh_path, ABSTRA_TABLES).close()
    assert [c for c, _ in columns(wh_path, "members")] == ["id", "email", *(
        c.name for c in TABLES["members"].columns if c.name not in ("id", "email"))]
    with duckdb.connect(str(wh_path), read_only=True) as con:
        assert con.execute("SELECT id, email, removed_at FROM members").fetchall() == [("m1", "a@x", None)]


def test_reopening_is_idempotent(wh_path: Path) -> None:
    Warehouse.open(wh_path, ABSTRA_TABLES).close()
    Warehouse.open(wh_path, ABSTRA_TABLES).close()
    assert len(columns(wh_path, "_partitions")) == 12


def test_identifiers_are_quoted() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert create_table_sql("t", [("end", "TIMESTAMPTZ")]) == 'CREATE TABLE IF NOT EXISTS "t" ("end" TIMESTAMPTZ)'


def test_sizes_parse_like_duckdb_and_bad_ones_are_config_errors() -> None:
    assert parse_size("128MB") == 128_000_000
    assert parse_size("1GiB") == 2**30
    assert parse_size(" 500 kb ") == 500_000
    with pytest.raises(ConfigError, match="not a size"):
        parse_size("lots")


def test_public_names_are_exported_on_purpose() -> None:
    modules = [importlib.import_module(f"state.{m}") for m in ("alerts", "checkpoints", "errors", "lock", "marks", "partitions", "runs")]
    for module in (sinks, *modules):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_stage_directories_of_dead_writers_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = tmp_path / f"harvester-stage-{dead.stdout.strip()}-abc"
    stale.mkdir()
    (stale / "0.json").write_text("[]")
    mine = Stager(tmp_path)
    try:
        assert not stale.exists()
        assert mine.directory.exists()
        Stager(tmp_path).close()  # a live writer's directory is left alone
        assert mine.directory.exists()
    finally:
        mine.close()
    assert not mine.directory.exists()


def test_raw_is_stored_with_zstd_and_reads_back_whole(wh_path: Path) -> None:
    """`raw` (most of a row's bytes) is compressed with zstd on disk, the other text
    columns keep DuckDB's choice; the entries read back as they went in."""
    from datetime import UTC, datetime, timedelta

    from harvester.pages import Checkpoint, PageWrite
    from harvester.planner import Partition

    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    partition = Partition("auth_attempt_logs", t0, t0 + timedelta(days=31))
    rows = [{"id": f"e{i}", "created_at": t0 + timedelta(seconds=i), "email": f"u{i % 7}@example.com",
             "raw": {"id": f"e{i}", "note": "x" * (i % 50)}} for i in range(5000)]
    with Warehouse.open(wh_path, ABSTRA_TABLES) as wh:
        wh.commit_pages([PageWrite(partition, "auth_attempt_logs", rows, Checkpoint(partition.key, done=True))])
    with duckdb.connect(str(wh_path), read_only=True) as con:
        found = dict(con.execute(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('auth_attempt_logs') "
            "WHERE segment_type IN ('VARCHAR', 'JSON') GROUP BY column_name"
        ).fetchall())
        back = con.execute("SELECT raw FROM auth_attempt_logs WHERE id = 'e49'").fetchone()
    assert found["raw"] == ["ZSTD"]
    assert "ZSTD" not in found["email"]
    assert back == ('{"id":"e49","note":"' + "x" * 49 + '"}',)
