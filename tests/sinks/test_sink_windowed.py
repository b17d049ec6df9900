"""commit_pages: dedupe rules per table kind, atomicity of rows + checkpoints, rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from harvester.errors import CheckpointError, SinkError
from harvester.pages import Checkpoint, PageWrite, Reject
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

T0 = datetime(2025, 3, 1, tzinfo=UTC)
LOGS = Partition("connector_action_logs", T0, T0 + timedelta(days=31))
EXEC = Partition("executions", T0, T0 + timedelta(days=31), ("p1",))
DAY1 = Partition("consumption", T0, T0 + timedelta(days=1), ("p1",))


def log_row(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "created_at": T0 + timedelta(minutes=i),
        "event": "executeQuery",
        "source": "app",
        "raw": {"id": f"e{i}", "n": i},
        **extra,
    }


def page(partition: Partition, table: str, rows: list[dict[str, Any]], *, cursor: str | None = None,
         done: bool = False, pages: int = 1, rejects: list[Reject] | None = None) -> PageWrite:
    checkpoint = Checkpoint(partition.key, cursor=cursor, done=done, pages=pages, rows=len(rows))
    return PageWrite(partition, table, rows, checkpoint, rejects or [])


def fetch(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return wh._connection().execute(sql).fetchall()


def checkpoint_of(wh: Warehouse, key: str) -> tuple[Any, ...]:
    return fetch(wh, f"SELECT cursor, done, pages, rows FROM _partitions WHERE key = '{key}'")[0]


def test_a_page_committed_twice_lands_once(warehouse: Warehouse) -> None:
    write = page(LOGS, "connector_action_logs", [log_row(i) for i in range(5)], cursor="c1")
    warehouse.commit_pages([write])
    warehouse.commit_pages([write])
    assert fetch(warehouse, "SELECT count(*), count(DISTINCT id) FROM connector_action_logs") == [(5, 5)]


def test_logs_keep_the_first_copy_across_commits_and_within_a_batch(warehouse: Warehouse) -> None:
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, event="first")])])
    batch = [log_row(1, event="later"), log_row(2, event="first"), log_row(2, event="later")]
    warehouse.commit_pages([page(LOGS, "connector_action_logs", batch, pages=2)])
    assert fetch(warehouse, "SELECT id, event FROM connector_action_logs ORDER BY id") == [
        ("e1", "first"),
        ("e2", "first"),
    ]


def test_log_dedupe_finds_copies_whatever_their_time_range(warehouse: Warehouse) -> None:
    """The anti-join is narrowed by created_at; a far-apart batch must still see old ids."""
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1), log_row(10_000)])])
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1), log_row(5)])])
    assert fetch(warehouse, "SELECT id FROM connector_action_logs ORDER BY id") == [
        ("e1",), ("e10000",), ("e5",)
    ]


def test_a_copy_whose_created_at_moved_within_a_day_is_still_a_copy(warehouse: Warehouse) -> None:
    """The narrowed probe is widened by a day (e.g. a createdAt re-serialised in another zone)."""
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1)])])
    moved = log_row(1, created_at=T0 + timedelta(hours=23), event="later")
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [moved, log_row(2)])])
    assert fetch(warehouse, "SELECT id, event FROM connector_action_logs ORDER BY id") == [
        ("e1", "executeQuery"), ("e2", "executeQuery")
    ]


def test_the_probe_looks_beside_every_run_of_days_of_a_batch(warehouse: Warehouse) -> None:
    """A backfill commits pages of slices weeks apart in one batch: the probe is narrowed
    to each run of days, and a copy moved within a day beside any of them is still found."""
    far = T0 + timedelta(days=40)
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, created_at=far + timedelta(hours=20))])])
    batch = [log_row(2), log_row(1, created_at=far + timedelta(days=1, hours=10), event="later"),
             log_row(3, created_at=T0 + timedelta(days=80))]
    warehouse.commit_pages([page(LOGS, "connector_action_logs", batch)])
    assert fetch(warehouse, "SELECT id, event FROM connector_action_logs ORDER BY id") == [
        ("e1", "executeQuery"), ("e2", "executeQuery"), ("e3", "executeQuery")
    ]


@pytest.mark.parametrize(
    ("stored", "again"),
    [
        (datetime(1969, 12, 30, 16, tzinfo=UTC), datetime(1969, 12, 31, 12, tzinfo=UTC)),  # days before 1970
        (datetime(9999, 12, 30, 16, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),  # the last day
        (datetime(1, 1, 2, 12, tzinfo=UTC), datetime(1, 1, 1, 20, tzinfo=UTC)),  # the first day
    ],
    ids=["1969", "9999", "0001"],
)
def test_the_probe_finds_a_moved_copy_at_any_date(warehouse: Warehouse, stored: datetime, again: datetime) -> None:
    """Day numbers round down before 1970, and the probe's bounds are built by DuckDB,
    whose range is wider than Python's: a copy within a day is found at any date."""
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, created_at=stored)])])
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, created_at=again, event="later")])])
    assert fetch(warehouse, "SELECT id, event FROM connector_action_logs") == [("e1", "executeQuery")]


def exec_row(i: str, status: str) -> dict[str, Any]:
    return {"id": i, "created_at": T0, "project_id": "p1", "status": status, "raw": {"status": status}}


def test_executions_keep_the_newest_copy(warehouse: Warehouse) -> None:
    warehouse.commit_pages([page(EXEC, "executions", [exec_row("x1", "running"), exec_row("x2", "running")])])
    batch = [exec_row("x1", "running"), exec_row("x1", "finished")]
    warehouse.commit_pages([page(EXEC, "executions", batch, pages=2)])
    assert fetch(warehouse, "SELECT id, status, raw FROM executions ORDER BY id") == [
        ("x1", "finished", '{"status":"finished"}'),
        ("x2", "running", '{"status":"running"}'),
    ]


def metric(project: str, start: datetime | str, name: str, value: float) -> dict[str, Any]:
    return {
        "project_id": project,
        "period_start": start,  # a datetime or its wire string: both mean the same period
        "metric": name,
        "value": value,
        "raw": {name: value},
    }


def test_consumption_replaces_every_row_of_a_project_period(warehouse: Warehouse) -> None:
    day2 = T0 + timedelta(days=1)
    other = Partition("consumption", T0, T0 + timedelta(days=1), ("p2",))
    warehouse.commit_pages(
        [
            page(DAY1, "consumption", [metric("p1", T0, "cpu", 1.0), metric("p1", T0, "ram", 2.0)]),
            page(other, "consumption", [metric("p2", T0, "cpu", 9.0)]),
        ]
    )
    later = Partition("consumption", day2, day2 + timedelta(days=1), ("p1",))
    warehouse.commit_pages([page(later, "consumption", [metric("p1", day2, "cpu", 5.0)])])
    # A newer reply for (p1, day 1) without "ram": the old ram row must go.
    warehouse.commit_pages([page(DAY1, "consumption", [metric("p1", T0, "cpu", 3.0)], pages=2)])
    got = fetch(warehouse, "SELECT project_id, period_start, metric, value FROM consumption ORDER BY ALL")
    assert got == [("p1", T0, "cpu", 3.0), ("p1", day2, "cpu", 5.0), ("p2", T0, "cpu", 9.0)]


def test_consumption_later_page_in_a_batch_wins(warehouse: Warehouse) -> None:
    first = page(DAY1, "consumption", [metric("p1", T0, "cpu", 1.0), metric("p1", T0, "ram", 1.0)])
    second = page(DAY1, "consumption", [metric("p1", "2025-03-01T00:00:00.000Z", "cpu", 2.0)], pages=2)
    warehouse.commit_pages([first, second])
    assert fetch(warehouse, "SELECT metric, value FROM consumption") == [("cpu", 2.0)]


def test_harvested_at_is_the_commit_time_in_utc(warehouse: Warehouse) -> None:
    before = datetime.now(UTC)
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1), log_row(2)])])
    after = datetime.now(UTC)
    stamps = fetch(warehouse, "SELECT DISTINCT harvested_at FROM connector_action_logs")
    assert len(stamps) == 1
    assert before - timedelta(seconds=1) <= stamps[0][0] <= after
    assert stamps[0][0].utcoffset() == timedelta(0)


def test_checkpoint_commits_with_the_page_and_the_last_one_per_partition_wins(warehouse: Warehouse) -> None:
    warehouse.register_partitions("run1", [LOGS])
    warehouse.commit_pages(
        [
            page(LOGS, "connector_action_logs", [log_row(1)], cursor="c1", pages=1),
            page(LOGS, "connector_action_logs", [log_row(2)], cursor="c2", pages=2),
        ]
    )
    assert checkpoint_of(warehouse, LOGS.key) == ("c2", False, 2, 1)
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [], done=True, pages=3)])
    assert checkpoint_of(warehouse, LOGS.key) == (None, True, 3, 0)
    assert warehouse.pending_partitions() == []


def test_an_unregistered_partition_gets_its_checkpoint_row(warehouse: Warehouse) -> None:
    warehouse.commit_pages([page(EXEC, "executions", [exec_row("x1", "ok")], cursor=None, pages=1)])
    assert fetch(warehouse, "SELECT stream, project_ids, done FROM _partitions") == [("executions", ["p1"], False)]


def test_a_failed_commit_keeps_neither_rows_nor_checkpoints(warehouse: Warehouse) -> None:
    """Rows, rejects and checkpoints of a batch commit together or not at all."""
    warehouse.register_partitions("run1", [LOGS, EXEC])
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1)], cursor="c1")])
    good = page(LOGS, "connector_action_logs", [log_row(2), log_row(3)], cursor="c2", pages=2,
                rejects=[Reject("connector_action_logs", "bad createdAt", '{"id": 9}')])
    bad = page(EXEC, "executions", [{"id": "x", "created_at": "not a time", "raw": {}}], cursor="o1")
    with pytest.raises(SinkError, match="committing 2 page") as caught:
        warehouse.commit_pages([good, bad])
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None
    assert fetch(warehouse, "SELECT id FROM connector_action_logs") == [("e1",)]
    assert fetch(warehouse, "SELECT count(*) FROM executions") == [(0,)]
    assert fetch(warehouse, "SELECT count(*) FROM _rejects") == [(0,)]
    assert checkpoint_of(warehouse, LOGS.key) == ("c1", False, 1, 1)
    assert checkpoint_of(warehouse, EXEC.key) == (None, False, 0, 0)
    # The connection is still usable afterwards.
    warehouse.commit_pages([good])
    assert fetch(warehouse, "SELECT count(*) FROM connector_action_logs") == [(3,)]


def test_a_value_json_cannot_carry_fails_cleanly(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError):
        warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, event="\ud800")])])
    assert fetch(warehouse, "SELECT count(*) FROM connector_action_logs") == [(0,)]


def test_rejects_are_recorded_once(warehouse: Warehouse) -> None:
    reject = Reject("connector_action_logs", "no createdAt", '{"id": "z"}')
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [], rejects=[reject, reject])])
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [], rejects=[reject])])
    rows = fetch(warehouse, "SELECT stream, partition_key, reason, raw FROM _rejects")
    assert rows == [("connector_action_logs", LOGS.key, "no createdAt", '{"id": "z"}')]


def test_a_reject_with_invalid_unicode_does_not_fail_the_commit(warehouse: Warehouse) -> None:
    reject = Reject("connector_action_logs", "bad", "'\ud800'")
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1)], rejects=[reject])])
    assert fetch(warehouse, "SELECT raw FROM _rejects") == [("'\\ud800'",)]


def test_rows_without_a_key_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError, match="no id"):
        warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1), {"created_at": T0}])])


def test_json_columns_store_the_value_text_once(warehouse: Warehouse) -> None:
    raw = {"nested": [1, 2.5, None, True, "é\u0000"], "s": 'quote " and \\'}
    warehouse.commit_pages(
        [page(LOGS, "connector_action_logs", [log_row(1, raw=raw), log_row(2, raw="just text"), log_row(3, raw=None)])]
    )
    got = dict(fetch(warehouse, "SELECT id, raw FROM connector_action_logs"))
    assert orjson.loads(got["e1"]) == raw
    assert got["e2"] == '"just text"'
    assert got["e3"] is None
    assert fetch(warehouse, "SELECT json_extract_string(raw, '$.s') FROM connector_action_logs WHERE id = 'e1'") == [
        (raw["s"],)
    ]


def test_pre_encoded_json_fragments_are_stored_verbatim(warehouse: Warehouse) -> None:
    """Records may carry `raw` already encoded (orjson.Fragment): it is not re-encoded."""
    fragment = orjson.Fragment(b'{"a": [1, 2], "b": "\\u00e9"}')
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, raw=fragment)])])
    (text,) = fetch(warehouse, "SELECT raw FROM connector_action_logs")[0]
    assert orjson.loads(text) == {"a": [1, 2], "b": "é"}


def test_wire_strings_and_offsets_become_utc_instants(warehouse: Warehouse) -> None:
    rows = [
        log_row(1, created_at="2025-01-01T00:00:00.123Z"),
        log_row(2, created_at=datetime(2025, 1, 1, 11, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ]
    warehouse.commit_pages([page(LOGS, "connector_action_logs", rows)])
    got = dict(fetch(warehouse, "SELECT id, created_at FROM connector_action_logs"))
    assert got == {
        "e1": datetime(2025, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
        "e2": datetime(2025, 1, 1, 5, 30, tzinfo=UTC),
    }


def test_huge_entries_are_stored(warehouse: Warehouse) -> None:
    big = {"blob": "x" * (6 << 20), "list": list(range(1000))}
    warehouse.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, raw=big), log_row(2)])])
    assert fetch(warehouse, "SELECT id, length(raw) FROM connector_action_logs ORDER BY id")[0][1] > 6 << 20


def test_an_entry_bigger_than_the_memory_limit_allows(wh_path: Path) -> None:
    """DuckDB reserves ~256 MB to store a 20 MB string: the commit is retried with room."""
    with Warehouse.open(wh_path, ABSTRA_TABLES, memory_limit="64MB") as wh:
        wh.commit_pages([page(LOGS, "connector_action_logs", [log_row(1, raw={"blob": "y" * (20 << 20)})])])
        assert fetch(wh, "SELECT length(raw) > 20 << 20 FROM connector_action_logs") == [(True,)]
        assert fetch(wh, "SELECT current_setting('memory_limit')") == [("61.0 MiB",)]


def test_a_small_memory_limit_commits_first_time_and_is_kept(wh_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_json reserves 32 MiB whatever the file: the read gets that room, then the
    configured limit (which bounds the block cache, hence RSS) comes back."""
    attempts = []
    original = Warehouse._transaction_once

    def counting(self: Warehouse, *args: Any) -> Any:
        attempts.append(args[1])
        return original(self, *args)

    monkeypatch.setattr(Warehouse, "_transaction_once", counting)
    with Warehouse.open(wh_path, ABSTRA_TABLES, memory_limit="32MB") as wh:
        attempts.clear()
        wh.commit_pages([page(LOGS, "connector_action_logs", [log_row(i) for i in range(2000)])])
        assert len(attempts) == 1  # no out-of-memory retry
        assert fetch(wh, "SELECT count(*), current_setting('memory_limit') FROM connector_action_logs") == [
            (2000, "30.5 MiB")
        ]


def test_pages_for_snapshot_tables_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(SinkError, match="not a table merged by key"):
        warehouse.commit_pages([page(LOGS, "members", [])])


def test_a_checkpoint_riding_on_another_partitions_page_is_refused(warehouse: Warehouse) -> None:
    write = PageWrite(LOGS, "connector_action_logs", [], Checkpoint(EXEC.key))
    with pytest.raises(CheckpointError):
        warehouse.commit_pages([write])


def test_an_empty_batch_is_a_no_op(warehouse: Warehouse) -> None:
    warehouse.commit_pages([])
    assert fetch(warehouse, "SELECT count(*) FROM _partitions") == [(0,)]
