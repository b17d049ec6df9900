"""`probe_ranges`: where the probe for stored keys looks, as a pure function of the
staged rows' day numbers. It may look wider than needed, never narrower."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sinks.merge import MAX_PROBE_RANGES, probe_ranges

DAY = 86_400
FIRST_DAY, LAST_DAY = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31, as UTC day numbers
DAYS = st.sets(st.integers(min_value=16_000, max_value=22_000), min_size=1, max_size=80) | st.sets(
    st.integers(min_value=FIRST_DAY, max_value=LAST_DAY), min_size=1, max_size=40
)


@given(DAYS)
def test_every_instant_within_a_day_of_a_staged_row_is_probed(days: set[int]) -> None:
    ranges = probe_ranges(days)
    for d in days:  # a row stamped on day d: from (d-1) 00:00 to (d+2) 00:00
        assert any(lo <= (d - 1) * DAY and (d + 2) * DAY <= hi for lo, hi in ranges), d


@given(DAYS)
def test_ranges_are_sorted_disjoint_bounded_and_tight(days: set[int]) -> None:
    ranges = probe_ranges(days)
    assert 1 <= len(ranges) <= MAX_PROBE_RANGES
    assert all(lo < hi for lo, hi in ranges)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    if len(ranges) > 1:  # not the bounded fallback: each range starts and ends at a staged day
        assert {lo // DAY + 1 for lo, _ in ranges} <= days
        assert {hi // DAY - 2 for _, hi in ranges} <= days


def test_slices_weeks_apart_are_probed_apart_and_neighbours_together() -> None:
    assert probe_ranges([20_000, 20_001, 20_003, 20_040]) == [
        (19_999 * DAY, 20_005 * DAY), (20_039 * DAY, 20_042 * DAY)
    ]


def test_more_runs_than_the_bound_make_one_range() -> None:
    days = [20_000 + 10 * k for k in range(MAX_PROBE_RANGES + 1)]
    assert probe_ranges(days) == [(19_999 * DAY, (days[-1] + 2) * DAY)]
