"""The planner: slicing, batching and partition keys. Pure, so mostly properties."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.planner import (
    MAX_BATCH,
    MAX_SLICE_DAYS,
    Partition,
    batch_projects,
    day_slices,
    slice_range,
)
from harvester.sources.abstra.plan import plan_backfill, plan_incremental
from harvester.sources.abstra.streams import ALL_STREAMS, Scope

ORG_STREAMS = [s for s in ALL_STREAMS.values() if s.scope is Scope.ORG]
SNAPSHOT_STREAMS = [s for s in ALL_STREAMS.values() if not s.windowed]
WINDOWED = [s for s in ALL_STREAMS.values() if s.windowed]
PAL = ALL_STREAMS["project_action_logs"]
EXECUTIONS = ALL_STREAMS["executions"]
CONSUMPTION = ALL_STREAMS["consumption"]
ORG_LOGS = ALL_STREAMS["organization_action_logs"]

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

# Instants on a millisecond grid (what survives the wire), 2000..2040, UTC.
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
spans = st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=400))
slice_days = st.integers(min_value=1, max_value=MAX_SLICE_DAYS)
project_ids = st.lists(st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8), max_size=250)


def _assert_tiles(slices: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> None:
    assert slices[0][0] == start
    assert slices[-1][1] == end
    for (_, e1), (s2, _) in zip(slices, slices[1:]):
        assert e1 == s2, "slices must be contiguous, no gap and no overlap"


# slice_range -------------------------------------------------------------------


@given(instants, spans, slice_days)
def test_slice_range_tiles_the_range_exactly_with_bounded_slices(start, span, days):
    """[start, end) is covered exactly: contiguous, no overlap, each slice in (0, days]."""
    end = start + span
    slices = slice_range(start, end, days)
    _assert_tiles(slices, start, end)
    for s, e in slices:
        assert timedelta(0) < e - s <= timedelta(days=days)
    assert len(slices) == -(-span // timedelta(days=days))  # ceil: no needless extra slice


@given(instants, spans, slice_days)
def test_slice_range_is_deterministic(start, span, days):
    """Re-planning the same range yields the same slices (so the same partition keys)."""
    assert slice_range(start, start + span, days) == slice_range(start, start + span, days)


@given(instants, slice_days)
def test_slice_range_of_an_empty_range_is_empty(start, days):
    assert slice_range(start, start, days) == []


@pytest.mark.parametrize("days", [0, -1, MAX_SLICE_DAYS + 1, 40])
def test_slice_range_rejects_slice_days_outside_1_to_31(days):
    with pytest.raises(ValueError, match="slice_days"):
        slice_range(T0, T0 + DAY, days)


# batch_projects ----------------------------------------------------------------


@given(project_ids)
def test_batch_projects_keeps_every_id_once_sorted_in_batches_of_at_most_100(ids):
    """Every distinct id appears exactly once, in sorted order, duplicates dropped."""
    batches = batch_projects(ids)
    flat = [pid for batch in batches for pid in batch]
    assert flat == sorted(set(ids))
    assert all(0 < len(b) <= MAX_BATCH for b in batches)
    # Only the last batch may be short: no needless extra chains.
    assert all(len(b) == MAX_BATCH for b in batches[:-1])


def test_batch_projects_deduplicates():
    assert batch_projects(["b", "a", "b", "a"]) == [("a", "b")]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_batch_projects_rejects_a_batch_size_over_the_api_cap(size):
    with pytest.raises(ValueError, match="batch size"):
        batch_projects(["a"], size)


# day_slices --------------------------------------------------------------------


def _is_midnight(d: datetime) -> bool:
    return d.utcoffset() == timedelta(0) and (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0)


@given(instants, spans)
def test_day_slices_are_utc_days_covering_the_range(start, span):
    """Daily periods start at UTC midnight, tile the range from the start's day to `end`."""
    end = start + span
    slices = day_slices(start, end)
    assert slices[0][0] <= start
    assert slices[0][0] > start - DAY
    assert slices[-1][1] == end
    _assert_tiles(slices, slices[0][0], end)
    for s, e in slices:
        assert _is_midnight(s)
        assert timedelta(0) < e - s <= DAY


@given(instants, spans, st.integers(min_value=2, max_value=MAX_SLICE_DAYS), st.integers(0, 60))
def test_day_slices_of_several_days_lie_on_one_grid_whatever_the_start(start, span, period, shift):
    """Two runs starting on different days cut the same periods, so stored consumption
    periods never overlap (keyed by period_start, overlapping periods would double count)."""
    end = start + span
    later = start + timedelta(days=shift)
    first = {s for s, _ in day_slices(start, end + timedelta(days=60), period)}
    second = {s for s, _ in day_slices(later, end + timedelta(days=60), period)}
    assert second <= first
    for s in first:
        assert _is_midnight(s)


@pytest.mark.parametrize("period", [0, -1, MAX_SLICE_DAYS + 1])
def test_day_slices_rejects_a_period_outside_1_to_31(period):
    """A zero period would loop forever; over 31 days the API refuses the window."""
    with pytest.raises(ValueError, match="period_days"):
        day_slices(T0, T0 + DAY, period)


# Partition ---------------------------------------------------------------------


def test_partition_key_depends_only_on_stream_window_and_projects():
    a = Partition("executions", T0, T0 + DAY, ("p1",))
    assert a.key == Partition("executions", T0, T0 + DAY, ("p1",)).key
    assert a.key != Partition("executions", T0, T0 + DAY, ("p2",)).key
    assert a.key != Partition("consumption", T0, T0 + DAY, ("p1",)).key
    assert a.key != Partition("executions", T0, T0 + 2 * DAY, ("p1",)).key


def test_partition_label_names_stream_window_and_projects():
    assert Partition("executions", T0, T0 + DAY, ("p1",)).label() == (
        "executions [2025-01-01T00:00:00.000Z, 2025-01-02T00:00:00.000Z) scope=p1"
    )
    assert Partition(PAL.name, T0, T0 + DAY, ("a", "b")).label().endswith("scopes=2")


# plan_backfill -----------------------------------------------------------------


@given(instants, spans, slice_days)
def test_backfill_org_streams_get_one_partition_per_slice(start, span, days):
    end = start + span
    plan = plan_backfill(ORG_STREAMS, start, end, ["p1", "p2"], slice_days=days)
    slices = slice_range(start, end, days)
    for stream in ORG_STREAMS:
        mine = [p for p in plan if p.stream == stream.name]
        assert [(p.start, p.end) for p in mine] == slices
        assert all(p.scopes == () for p in mine)


@given(instants, spans, slice_days, project_ids)
def test_backfill_project_action_logs_is_batches_times_slices(start, span, days, ids):
    end = start + span
    plan = plan_backfill([PAL], start, end, ids, slice_days=days)
    batches = batch_projects(ids)
    slices = slice_range(start, end, days)
    assert len(plan) == len(batches) * len(slices)
    assert {(p.scopes, p.start, p.end) for p in plan} == {
        (b, s, e) for b in batches for s, e in slices
    }
    # Each project, in each slice, is asked for exactly once.
    per_slice = Counter((pid, p.start) for p in plan for pid in p.scopes)
    assert set(per_slice.values()) <= {1}


def test_backfill_executions_get_one_partition_per_project_and_slice():
    end = T0 + timedelta(days=40)
    plan = plan_backfill([EXECUTIONS], T0, end, ["p2", "p1", "p2"], slice_days=31)
    assert [(p.scopes, p.start, p.end) for p in plan] == [
        (("p1",), T0, T0 + timedelta(days=31)),
        (("p1",), T0 + timedelta(days=31), end),
        (("p2",), T0, T0 + timedelta(days=31)),
        (("p2",), T0 + timedelta(days=31), end),
    ]


def test_backfill_consumption_gets_one_partition_per_project_and_utc_day():
    start = T0 + timedelta(hours=5)
    end = T0 + timedelta(days=2, hours=3)
    plan = plan_backfill([CONSUMPTION], start, end, ["p1", "p2"], slice_days=31)
    expected_windows = [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY), (T0 + 2 * DAY, end)]
    for pid in ("p1", "p2"):
        assert [(p.start, p.end) for p in plan if p.scopes == (pid,)] == expected_windows
    assert len(plan) == 6


def test_backfill_snapshot_streams_have_no_partitions():
    assert plan_backfill(SNAPSHOT_STREAMS, T0, T0 + DAY, ["p1"]) == []


@given(
    instants,
    st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=70)),
    slice_days,
    st.lists(st.sampled_from([f"p{i}" for i in range(12)]), max_size=20),
)
def test_backfill_keys_are_unique_and_stable_across_two_plans(start, span, days, ids):
    """The same backfill planned twice yields the same keys: a killed run resumes."""
    end = start + span
    first = plan_backfill(ALL_STREAMS.values(), start, end, ids, slice_days=days)
    second = plan_backfill(ALL_STREAMS.values(), start, end, list(reversed(ids)), slice_days=days)
    keys = [p.key for p in first]
    assert len(keys) == len(set(keys))
    assert keys == [p.key for p in second]
    assert first == second


@pytest.mark.parametrize("end", [T0, T0 - DAY])
def test_backfill_of_an_empty_range_raises(end):
    with pytest.raises(ValueError, match="empty range"):
        plan_backfill(WINDOWED, T0, end, ["p1"])


# plan_incremental --------------------------------------------------------------

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
LOOKBACK = timedelta(hours=2)


def _incremental(streams, ids, marks, **kw):
    kw.setdefault("default_start", DEFAULT_START)
    kw.setdefault("now", NOW)
    kw.setdefault("lookback", LOOKBACK)
    return plan_incremental(streams, ids, marks, **kw)


def test_incremental_restarts_at_the_mark_minus_lookback():
    mark = NOW - timedelta(hours=1)
    plan = _incremental([ORG_LOGS], [], {(ORG_LOGS.name, ""): mark})
    assert [(p.start, p.end) for p in plan] == [(mark - LOOKBACK, NOW)]


def test_incremental_never_restarts_before_default_start():
    mark = DEFAULT_START + timedelta(minutes=30)
    plan = _incremental([ORG_LOGS], [], {(ORG_LOGS.name, ""): mark})
    assert plan[0].start == DEFAULT_START


def test_incremental_starts_at_default_start_without_a_mark():
    plan = _incremental([ORG_LOGS], [], {})
    assert plan[0].start == DEFAULT_START
    assert plan[-1].end == NOW
    assert [(p.start, p.end) for p in plan] == slice_range(DEFAULT_START, NOW, MAX_SLICE_DAYS)


@pytest.mark.parametrize("stream", [ORG_LOGS, PAL, EXECUTIONS])
def test_incremental_plans_nothing_when_the_restart_is_not_before_now(stream):
    ids = ["p1"]
    scope = "" if stream.scope is Scope.ORG else "p1"
    assert _incremental([stream], ids, {}, default_start=NOW) == []
    assert _incremental([stream], ids, {}, default_start=NOW + DAY) == []
    # A mark in the future (clock skew) with no lookback: nothing to do either.
    assert _incremental([stream], ids, {(stream.name, scope): NOW + DAY}, lookback=timedelta(0)) == []


def test_incremental_plans_no_snapshot_partitions():
    assert _incremental(SNAPSHOT_STREAMS, ["p1"], {}) == []


def test_incremental_projects_with_the_same_restart_share_batches():
    ids = [f"p{i:03d}" for i in range(150)]
    mark = NOW - timedelta(hours=1)
    plan = _incremental([PAL], ids, {(PAL.name, pid): mark for pid in ids})
    assert [p.scopes for p in plan] == batch_projects(ids)
    assert all((p.start, p.end) == (mark - LOOKBACK, NOW) for p in plan)


def test_incremental_projects_with_different_marks_get_separate_partitions():
    early, late = NOW - timedelta(days=3), NOW - timedelta(hours=1)
    marks = {(PAL.name, "a"): early, (PAL.name, "b"): late, (PAL.name, "c"): early}
    plan = _incremental([PAL], ["a", "b", "c"], marks)
    assert [(p.scopes, p.start) for p in plan] == [
        (("a", "c"), early - LOOKBACK),
        (("b",), late - LOOKBACK),
    ]


def test_incremental_project_without_a_mark_restarts_at_default_start_apart_from_others():
    mark = NOW - timedelta(hours=1)
    plan = _incremental([PAL], ["new", "old"], {(PAL.name, "old"): mark})
    by_ids = {p.scopes: p for p in plan if p.end == NOW}
    assert by_ids[("old",)].start == mark - LOOKBACK
    assert plan[0].scopes == ("new",) and plan[0].start == DEFAULT_START


def test_incremental_per_project_streams_use_each_project_mark():
    marks = {(EXECUTIONS.name, "a"): NOW - DAY, (EXECUTIONS.name, "b"): NOW - timedelta(hours=3)}
    plan = _incremental([EXECUTIONS], ["b", "a"], marks)
    assert {(p.scopes, p.start, p.end) for p in plan} == {
        (("a",), NOW - DAY - LOOKBACK, NOW),
        (("b",), NOW - timedelta(hours=5), NOW),
    }


def test_incremental_consumption_rereads_the_current_utc_day():
    """An hourly run re-reads today's partial period from midnight UTC."""
    mark = NOW - timedelta(hours=1)
    plan = _incremental([CONSUMPTION], ["p1"], {(CONSUMPTION.name, "p1"): mark})
    assert [(p.start, p.end) for p in plan] == [(datetime(2025, 3, 1, tzinfo=UTC), NOW)]


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
    ),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
)
def test_incremental_keys_are_unique_and_stable_and_every_scope_reaches_now(ages, lookback):
    ids = ["a", "b", "c", "d"]
    windowed = list(WINDOWED)
    marks = {(s.name, pid): NOW - age for s in windowed for pid, age in ages.items()}
    marks.update({(s.name, ""): NOW - timedelta(days=5) for s in windowed if s.scope is Scope.ORG})
    first = _incremental(windowed, ids, marks, lookback=lookback)
    second = _incremental(windowed, list(reversed(ids)), dict(reversed(list(marks.items()))), lookback=lookback)
    keys = [p.key for p in first]
    assert len(keys) == len(set(keys))
    assert keys == [p.key for p in second]
    for stream in windowed:
        mine = [p for p in first if p.stream == stream.name]
        assert all(p.start < p.end <= NOW for p in mine)
        scopes = {""} if stream.scope is Scope.ORG else set(ids)
        for scope in scopes:
            covering = [p for p in mine if (scope in p.scopes if scope else True)]
            restart = max(DEFAULT_START, marks.get((stream.name, scope), DEFAULT_START) - lookback)
            if restart >= NOW:
                assert covering == []
                continue
            assert max(p.end for p in covering) == NOW
            assert min(p.start for p in covering) <= restart
