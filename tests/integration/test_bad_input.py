"""Hostile entries through parsing and the writer: nothing crashes, each bad entry is
one reject with a reason, every good entry lands (the first copy of a duplicated id)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.pages import Checkpoint, PageWrite, Reject
from harvester.planner import Partition
from harvester.records import RowBuilder
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

STREAM = "connector_action_logs"
WINDOW = Partition(STREAM, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC))


_DAY0 = datetime(2024, 6, 1, tzinfo=UTC)


def _wire(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


# A log entry is immutable: a re-served id may differ in any field but keeps its day
# (`sinks/merge.py` probes stored copies within a day of the batch's instants).
good_entries = st.builds(
    lambda i, seconds, extra, source: {
        "id": f"e{i}", "createdAt": _wire(_DAY0 + timedelta(days=i, seconds=seconds)), "source": source, "extra": extra,
    },
    st.integers(0, 40), st.integers(0, 86_399), json_value, st.sampled_from(["app", "editor", "ai", "api", None]),
)


def _deep(depth: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": f"deep{depth}", "createdAt": "2025-01-02T00:00:00.000Z"}
    node = entry
    for _ in range(depth):
        node["n"] = {}
        node = node["n"]
    return entry


bad_entries = st.one_of(
    st.builds(lambda i: {"id": f"b{i}"}, st.integers()),  # no createdAt
    st.builds(lambda i: {"id": f"b{i}", "createdAt": "2025-01-01T00:00:00"}, st.integers()),  # no zone
    st.builds(lambda i: {"id": f"b{i}", "createdAt": "99999-01-01T00:00:00Z"}, st.integers()),  # out of range
    st.builds(lambda i: {"id": [i], "createdAt": "2025-01-01T00:00:00Z"}, st.integers()),  # id wrong type
    st.builds(lambda v: {"id": "w", "createdAt": "2025-01-01T00:00:00Z", "source": {"x": v}}, st.integers()),
    st.builds(lambda i: {"id": f"s{i}", "createdAt": "2025-01-01T00:00:00Z", "email": "bad\udcff"}, st.integers()),
    st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2), st.none()),  # not objects
)
huge = st.just({"id": "huge", "createdAt": "2025-01-03T00:00:00.000Z", "blob": "x" * 3_000_000})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    entries=st.lists(st.one_of(good_entries, bad_entries, huge, st.just(_deep(400))), min_size=1, max_size=30)
)
def test_hostile_pages_land_good_entries_and_reject_bad_ones(entries: list[Any]) -> None:
    builder = RowBuilder(_ABSTRA_TABLES[STREAM], required=("createdAt",))
    built = [builder.build(e, STREAM) for e in entries]
    rows = [r for r in built if not isinstance(r, Reject)]
    rejects = [r for r in built if isinstance(r, Reject)]
    assert all(r.reason for r in rejects)
    first: dict[str, Any] = {}
    for r in rows:
        first.setdefault(r["id"], r)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.duckdb"
        with Warehouse.open(path, ABSTRA_TABLES) as warehouse:
            warehouse.start_run("r", "test", datetime.now(UTC))
            warehouse.register_partitions("r", [WINDOW])
            half = len(rows) // 2  # two pages, the second may repeat ids of the first
            for part, cp in ((rows[:half], 1), (rows[half:], 2)):
                checkpoint = Checkpoint(WINDOW.key, f"c{cp}", 0, cp == 2, cp, len(part))
                warehouse.commit_pages([PageWrite(WINDOW, STREAM, part, checkpoint, rejects if cp == 1 else [])])
        with duckdb.connect(str(path), read_only=True) as con:
            got = dict(con.execute(f"select id, raw::varchar from {STREAM}").fetchall())
            assert set(got) == set(first)
            for key, row in first.items():
                assert orjson.loads(got[key]) == orjson.loads(orjson.dumps(row["raw"])), "first copy wins"
            stored = {r[0] for r in con.execute("select raw from _rejects").fetchall()}
            assert stored == {r.raw for r in rejects}
            assert con.execute("select done from _partitions").fetchone() == (True,)
