"""Entry pages typed in SQL land exactly what the Python builder lands (`sinks.entries`).

Each example commits the same random pages twice: as reply bytes (`EntryPage`, the
fast path, with the source's own builder as its fallback) into one warehouse, and
as rows built in Python into another. Tables, rejects and per-page counts must be
equal; a batch of plain entries must never need the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.pages import Checkpoint, EntryPage, PageWrite
from harvester.planner import Partition
from harvester.records import RowBuilder
from harvester.sources.abstra.fetch import _log_rows
from harvester.sources.abstra.streams import TABLES
from sinks import Warehouse

T0 = datetime(2025, 3, 1, tzinfo=UTC)
END = T0 + timedelta(days=2)
LOGS = (
    Partition("connector_action_logs", T0, END),
    Partition("auth_attempt_logs", T0, END),
)
COLUMNS = "id, created_at, project_id, author_id, event, email, status, kind, source, errored"

_WIRE = "%Y-%m-%dT%H:%M:%S"
plain_instants = st.integers(0, 2 * 86400 - 1).map(
    lambda s: (T0 + timedelta(seconds=s)).strftime(_WIRE) + ".123Z"
)
odd_instants = st.sampled_from(
    [
        END.strftime(_WIRE) + ".000Z",  # exactly the window's end: belongs to the next window
        "2025-03-01T10:00:00+05:30",
        "2025-03-01T10:00:00.5Z",
        "2025-03-01T10:00:00.1234567Z",
        "2025-03-01T10:00:00",  # no zone
        "2025-03-01 10:00:00Z",
        "2025-02-30T10:00:00Z",
        "2025-03-01T24:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "2025-03-01T10:00:00+0530",
        "yesterday",
        "",
    ]
)
texts = st.one_of(st.sampled_from(["app", "é\n\u2028\"q\"\\", "x" * 300]), st.text(max_size=8))
odd_values = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.just({"a": [1, {"b": None}]}), st.just([]),
)
ids = st.one_of(st.sampled_from([f"{n:024x}" for n in range(6)]), st.just(""), st.integers(0, 9), st.just(["x"]))


@st.composite
def entries(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([42, "entry unavailable", None, [], 1.5]))
    entry: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        entry["id"] = draw(ids if draw(st.integers(0, 4)) == 0 else st.sampled_from([f"{n:024x}" for n in range(40)]))
    if draw(st.integers(0, 19)):
        entry["createdAt"] = draw(odd_instants if draw(st.integers(0, 5)) == 0 else plain_instants)
    for field in ("projectId", "authorId", "event", "email", "status", "kind", "source"):
        choice = draw(st.integers(0, 9))
        if choice < 6:
            entry[field] = draw(texts)
        elif choice < 8:
            entry[field] = draw(odd_values)
    if draw(st.booleans()):
        entry["errored"] = draw(st.one_of(st.booleans(), odd_values, st.just("true")))
    if draw(st.booleans()):
        entry["extra"] = draw(st.one_of(odd_values, texts))
    return entry


plain_entries = st.builds(
    lambda n, at, ev: {"id": f"{n:024x}", "createdAt": at, "event": ev, "errored": n % 2 == 0, "cost": 1e2},
    st.integers(0, 200), plain_instants, texts,
)


def reply(items: list[Any]) -> bytes:
    return orjson.dumps({"status": "success", "data": {"entries": items, "nextCursor": None}})


def both_ways(partition: Partition, items: list[Any], calls: list[int]) -> tuple[PageWrite, PageWrite]:
    """The page as reply bytes (counting fallback calls) and as rows built in Python."""
    table = TABLES[partition.stream]
    builder = RowBuilder(table, required=("createdAt",))
    body = reply(items)

    def fallback() -> Any:
        calls.append(1)
        return _log_rows(builder, partition, body)

    checkpoint = Checkpoint(partition.key, cursor=None, done=True, pages=1)
    fast = PageWrite(partition, table.name, [], checkpoint,
                     entries=EntryPage(body, ("data", "entries"), len(items), fallback, ("createdAt",), partition.end))
    rows, rejects = _log_rows(builder, partition, items)
    return fast, PageWrite(partition, table.name, rows, checkpoint, rejects)


def contents(wh: Warehouse) -> dict[str, Any]:
    con = wh._connection()
    out: dict[str, Any] = {}
    for partition in LOGS:
        rows = con.execute(f"SELECT {COLUMNS}, raw FROM {partition.stream} ORDER BY id").fetchall()
        out[partition.stream] = [(*r[:-1], orjson.loads(r[-1])) for r in rows]
    out["_rejects"] = sorted(con.execute("SELECT stream, partition_key, reason, raw FROM _rejects").fetchall())
    return out


def land(path: Path, batches: list[list[PageWrite]]) -> tuple[dict[str, Any], list[list[tuple[int, int]]]]:
    """Commit the batches; the tables, and (rows, rejects) of every page."""
    with Warehouse.open(path, TABLES.values()) as wh:
        counts = [[(x.rows, x.rejects) for x in wh.commit_pages(batch)] for batch in batches]
        return contents(wh), counts


Pages = list[tuple[int, list[Any]]]


def check_equal(tmp: Path, pages: Pages, split: int) -> list[int]:
    """Land `pages` (partition index, items) both ways in two batches; return fallback calls."""
    calls: list[int] = []
    pairs = [both_ways(LOGS[i], items, calls) for i, items in pages]
    fast = [f for f, _ in pairs]
    slow = [s for _, s in pairs]
    cut = min(split, len(pairs))
    tag = len(list(tmp.iterdir()))
    fast_result = land(tmp / f"fast-{tag}.duckdb", [fast[:cut], fast[cut:]])
    slow_result = land(tmp / f"slow-{tag}.duckdb", [slow[:cut], slow[cut:]])
    assert fast_result == slow_result
    return calls


page_lists: Callable[[Any], Any] = lambda items: st.lists(
    st.tuples(st.integers(0, 1), st.lists(items, max_size=8)), min_size=1, max_size=5
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=page_lists(entries()), split=st.integers(0, 5))
def test_sql_typing_lands_what_the_python_builder_lands(tmp_path: Path, pages: Pages, split: int) -> None:
    check_equal(tmp_path, pages, split)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=page_lists(plain_entries), split=st.integers(0, 5))
def test_plain_entries_never_need_the_python_builder(tmp_path: Path, pages: Pages, split: int) -> None:
    assert check_equal(tmp_path, pages, split) == []


def test_a_table_with_one_bad_entry_is_read_by_the_builder_and_others_stay_in_sql(tmp_path: Path) -> None:
    good = [{"id": "a1", "createdAt": "2025-03-01T01:00:00.000Z"}]
    bad = [{"id": "b1", "createdAt": "2025-03-01T01:00:00"}, {"id": "b2", "createdAt": "2025-03-01T02:00:00Z"}]
    calls = check_equal(tmp_path, [(0, good), (1, bad)], 2)
    assert calls == [1]  # only the auth page: its table's pages fall back, the connector page stays in SQL
    with Warehouse.open(tmp_path / "again.duckdb", TABLES.values()) as wh:
        fast, _ = both_ways(LOGS[1], bad, [])
        assert [(x.rows, x.rejects, x.typed) for x in wh.commit_pages([fast])] == [(1, 1, False)]
        reasons = wh._connection().execute("SELECT reason FROM _rejects").fetchall()
    assert reasons == [("createdAt '2025-03-01T01:00:00' has no time zone",)]
