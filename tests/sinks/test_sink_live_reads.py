"""Queries on the database a run is writing (`sinks.live_reads`): committed rows only,
beside the writer, and unable to write a table, a file, a setting or an extension.

The hostile statements are those `sql` faces outside a run (tests/sinks/test_sink_sealed.py),
plus what only a writable database would let through (EXPLAIN ANALYZE of a write).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
from harvester.planner import Partition
from sinks import Warehouse
from sinks.live_reads import LiveReader
from state.errors import SinkError

from .conftest import ABSTRA_TABLES
from .test_sink_sealed import T0, fingerprint, hostile_statements

COUNTS = "SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM members)"


def _writes(tmp: Path) -> list[str]:
    return [
        "INSERT INTO members (id) VALUES ('x')",
        "DELETE FROM executions",
        "CREATE TABLE pwned (a INT)",
        "DROP TABLE members",
        "EXPLAIN ANALYZE INSERT INTO members (id) VALUES ('x')",
        "EXPLAIN ANALYZE DELETE FROM executions",
        f"EXPLAIN ANALYZE COPY members TO '{tmp}/pwned.csv'",
    ]


def _executions(wh: Warehouse, day: int, ids: list[str]) -> None:
    part = Partition("executions", T0 + timedelta(days=day), T0 + timedelta(days=day + 1), ("p1",))
    rows = [{"id": i, "project_id": "p1", "created_at": part.start, "raw": {}} for i in ids]
    wh.register_partitions("r1", [part])
    wh.commit_pages([PageWrite(part, "executions", rows, Checkpoint(part.key, done=True, pages=1))])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Warehouse, LiveReader, Path]]:
    """A filled warehouse open for writing, as during a run, and its live reader."""
    path = tmp_path / "store" / "warehouse.duckdb"
    with Warehouse.open(path, ABSTRA_TABLES) as wh:
        _executions(wh, 0, [f"e{i}" for i in range(5)])
        wh.commit_snapshot(SnapshotWrite("members", "", [{"id": "m1"}, {"id": "m2"}], T0))
        reader = wh.live_reader()
        yield wh, reader, path
        reader.close()


def _all(reader: LiveReader, sql: str) -> list[tuple[object, ...]]:
    query = reader.open_query(sql)
    try:
        return query.fetch(1000)
    finally:
        query.close()


def test_every_hostile_statement_is_refused_and_changes_nothing(
    live: tuple[Warehouse, LiveReader, Path], tmp_path: Path
) -> None:
    wh, reader, path = live
    work = tmp_path / "work"
    work.mkdir()
    statements = [*hostile_statements(work, path, path), *_writes(work), "SELECT 1; SELECT 2", "PRAGMA version"]
    before = fingerprint(work)
    counts = _all(reader, COUNTS)
    assert counts == [(5, 2)]
    for statement in statements:
        with pytest.raises(SinkError):
            _all(reader, statement)
            pytest.fail(f"ran: {statement}")
    assert _all(reader, COUNTS) == counts
    assert _all(reader, "SELECT current_setting('enable_external_access')") == [(False,)]
    assert fingerprint(work) == before


def test_the_mechanism_alone_refuses_writes_files_and_extensions(
    live: tuple[Warehouse, LiveReader, Path], tmp_path: Path
) -> None:
    """Bypassing the statement rule, on the very cursor a query gets: the read-only
    transaction and the confined database refuse every write, file and extension.
    (Settings are shared with the writer, which changes its memory limit per batch,
    so SET and PRAGMA are kept out by the statement rule alone: the test above.)"""
    wh, reader, path = live
    work = tmp_path / "work"
    work.mkdir()
    settings = ("SET ", "RESET ", "PRAGMA memory_limit")
    statements = [s for s in hostile_statements(work, path, path) if not s.startswith(settings)]
    before = fingerprint(work)
    with reader._transaction() as cursor:
        for statement in [*statements, *_writes(work), "SELECT nextval('no_such_sequence')"]:
            with pytest.raises(duckdb.Error):
                cursor.execute(statement).fetchall()
                pytest.fail(f"ran: {statement}")
    assert _all(reader, COUNTS) == [(5, 2)]
    assert fingerprint(work) == before


def test_a_live_query_sees_committed_rows_and_runs_beside_the_writer(live: tuple[Warehouse, LiveReader, Path]) -> None:
    """Rows of an open write transaction are invisible; a query left open while the
    writer commits neither blocks the commit nor sees its rows mid-way."""
    wh, reader, _ = live
    con = wh._connection()
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO members (id, raw) VALUES ('uncommitted', '{}')")
    assert _all(reader, "SELECT count(*) FROM members") == [(2,)]
    con.execute("ROLLBACK")

    query = reader.open_query("SELECT id FROM executions ORDER BY id")
    first = query.fetch(2)
    _executions(wh, 1, ["n0", "n1", "n2"])
    rest = query.fetch(100)
    query.close()
    assert [r[0] for r in first + rest] == [f"e{i}" for i in range(5)]
    assert _all(reader, "SELECT count(*) FROM executions") == [(8,)]


def test_explain_of_a_select_is_answered(live: tuple[Warehouse, LiveReader, Path]) -> None:
    _, reader, _ = live
    plan = _all(reader, "EXPLAIN SELECT id FROM executions WHERE project_id = 'p1'")
    assert plan and "executions" in str(plan).lower()
    with pytest.raises(SinkError, match="EXPLAIN ANALYZE"):
        _all(reader, "EXPLAIN ANALYZE SELECT 1")


def test_status_reads_committed_rows(live: tuple[Warehouse, LiveReader, Path]) -> None:
    wh, reader, _ = live
    now = T0 + timedelta(days=3)
    assert {r["table"]: r["rows"] for r in reader.status(now)} == {r["table"]: r["rows"] for r in wh.status(now)}
