"""The connections `sql` and `sql --lake` run on are read-only by DuckDB's own settings.

These tests bypass the statement filter (`check_read_only_sql`) and execute each
hostile statement straight on the connection: the mechanism alone must refuse it,
and afterwards no file under the test folder is new or changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse
from sinks.lake import lake_connection, mirror

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def fill(path: Path) -> None:
    part = Partition("executions", T0, T0 + timedelta(days=1), ("p1",))
    rows = [{"id": f"e{i}", "project_id": "p1", "created_at": T0 + timedelta(minutes=i), "raw": {}} for i in range(5)]
    with Warehouse.open(path, ABSTRA_TABLES) as wh:
        wh.register_partitions("r1", [part])
        wh.commit_pages([PageWrite(part, "executions", rows, Checkpoint(part.key, done=True, pages=1))])
        wh.commit_snapshot(SnapshotWrite("members", "", [{"id": "m1"}, {"id": "m2"}], T0))


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its content hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def hostile_import(folder: Path, name: str, schema_sql: str) -> Path:
    """A directory `pragma import_database` would run: its schema.sql is the attack."""
    target = folder / name
    target.mkdir()
    (target / "schema.sql").write_text(schema_sql)
    (target / "load.sql").write_text("")
    return target


def hostile_statements(tmp: Path, warehouse: Path, lake_file: Path) -> list[str]:
    copy_out = hostile_import(tmp, "copy_out", f"COPY (SELECT 42) TO '{tmp}/pwned.csv';\n")
    attach = hostile_import(
        tmp, "attach", f"ATTACH '{warehouse}' AS w;\nDELETE FROM w.executions;\nDROP TABLE w._partitions;\n"
    )
    drop = hostile_import(tmp, "drop", "DROP TABLE members;\nCREATE TABLE pwned (a INT);\n")
    (tmp / "secret.csv").write_text("secret\nhunter2\n")
    return [
        f"PRAGMA import_database('{copy_out}')",
        f"PRAGMA import_database('{attach}')",
        f"PRAGMA import_database('{drop}')",
        f"COPY (SELECT 1 AS a) TO '{tmp}/pwned.csv'",
        f"COPY (SELECT 1 AS a) TO '{lake_file}' (FORMAT parquet, USE_TMP_FILE false)",
        f"ATTACH '{warehouse}' AS w; DELETE FROM w.executions",  # the warehouse may attach itself, read-only
        f"ATTACH '{warehouse}' AS w (READ_WRITE)",
        f"ATTACH '{tmp}/new.duckdb' AS n",
        f"EXPORT DATABASE '{tmp}/exported'",
        f"SELECT * FROM read_csv('{tmp}/secret.csv')",
        f"SELECT * FROM read_text('{warehouse}')",
        f"SELECT * FROM glob('{tmp}/*')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET memory_limit = '10GB'",
        "PRAGMA memory_limit = '10GB'",
        "SET enable_external_access = true",
        "RESET lock_configuration",
    ]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One warehouse and its lake for the module (each test proves it left them unchanged)."""
    root = tmp_path_factory.mktemp("stores")
    warehouse, lake = root / "wh" / "warehouse.duckdb", root / "lake"
    fill(warehouse)
    mirror(warehouse, str(lake))
    lake_file = next(lake.rglob("*.parquet"))
    return warehouse, lake, lake_file


@contextmanager
def sealed(kind: str, warehouse: Path, lake: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if kind == "warehouse":
        with Warehouse.open_read_only(warehouse) as wh:
            yield wh._connection()  # the very connection `sql` runs on, without the filter in front
    else:
        with lake_connection(str(lake)) as con:
            yield con


@pytest.mark.parametrize("kind", ["warehouse", "lake"])
def test_no_statement_can_touch_a_file_a_table_a_setting_or_an_extension(
    tmp_path: Path, stores: tuple[Path, Path, Path], kind: str
) -> None:
    warehouse, lake, lake_file = stores
    statements = hostile_statements(tmp_path, warehouse, lake_file)
    store_root = lake.parent
    before = fingerprint(tmp_path), fingerprint(store_root)
    with sealed(kind, warehouse, lake) as con:
        counts = con.execute("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM members)").fetchall()
        assert counts == [(5, 2)]
        for statement in statements:
            with pytest.raises(duckdb.Error):
                con.execute(statement).fetchall()
                pytest.fail(f"ran: {statement}")
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() != ("9.3 GiB",)
        assert con.execute("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM members)").fetchall() == counts
    assert (fingerprint(tmp_path), fingerprint(store_root)) == before
    with Warehouse.open_read_only(warehouse) as wh:
        assert wh.query("SELECT count(*) FROM _partitions")[1] == [(1,)]


@pytest.mark.parametrize("kind", ["warehouse", "lake"])
def test_the_sealed_connection_still_answers_queries_and_pragmas(stores: tuple[Path, Path, Path], kind: str) -> None:
    warehouse, lake, _ = stores
    with sealed(kind, warehouse, lake) as con:
        assert con.execute("SELECT id FROM members ORDER BY id").fetchall() == [("m1",), ("m2",)]
        assert ("id",) in [(row[1],) for row in con.execute("PRAGMA table_info('members')").fetchall()]
