"""Paging state: when a chain ends, and the guards that stop a misbehaving API."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.errors import PagingError
from harvester.paging import CursorPaging, OffsetPaging
from harvester.sources.abstra.models import LogPage

# CursorPaging ------------------------------------------------------------------


def test_cursor_first_page_asks_for_no_cursor():
    paging = CursorPaging()
    assert paging.params() == {}
    assert not paging.done


def test_cursor_resumes_from_a_stored_cursor():
    assert CursorPaging(cursor="abc").params() == {"cursor": "abc"}


@pytest.mark.parametrize("next_cursor", [None, ""], ids=["null-or-missing", "empty-string"])
def test_cursor_chain_ends_on_a_null_missing_or_empty_cursor(next_cursor):
    paging = CursorPaging()
    paging.advance(10, "c1")
    assert not paging.done and paging.params() == {"cursor": "c1"}
    paging.advance(10, next_cursor)
    assert paging.done
    assert paging.cursor is None
    assert paging.pages == 2


def test_cursor_chain_ends_when_the_reply_has_no_next_cursor_key():
    """A reply without `nextCursor` at all (as the client parses it) ends the chain."""
    page = LogPage.model_validate({"entries": [{"id": "a"}]})
    paging = CursorPaging(cursor="c1")
    paging.advance(len(page.entries), page.next_cursor)
    assert paging.done


def test_an_empty_page_with_a_new_cursor_is_followed_not_the_end():
    """A hiccup mid-chain must not drop the rest of the window."""
    paging = CursorPaging()
    paging.advance(0, "still-a-cursor")
    assert not paging.done
    assert paging.params() == {"cursor": "still-a-cursor"}
    paging.advance(5, "next")
    assert paging.cursor == "next"


def test_an_empty_page_that_does_not_move_the_cursor_is_asked_again_then_ends():
    paging = CursorPaging(cursor="here", max_retries=3)
    paging.advance(0, "here")
    assert not paging.done and paging.cursor == "here"
    paging.advance(0, "here")
    paging.advance(0, "here")
    assert paging.done, "three empty pages in a row end the chain"


def test_empty_pages_end_the_chain_after_max_empty_in_a_row():
    paging = CursorPaging(max_retries=3)
    for i in range(3):
        paging.advance(0, f"c{i}")
    assert paging.done


def test_a_cursor_that_does_not_move_is_asked_again_then_is_a_loop():
    """The same cursor back once is a hiccup (ask again); every time is a loop."""
    paging = CursorPaging(max_retries=3)
    paging.advance(5, "A")
    paging.advance(5, "A")
    assert paging.params() == {"cursor": "A"} and not paging.done
    paging.advance(5, "A")
    with pytest.raises(PagingError, match="cursor loop"):
        paging.advance(5, "A")


def test_a_stalled_cursor_that_recovers_continues_the_chain():
    paging = CursorPaging()
    paging.advance(5, "A")
    paging.advance(5, "A")
    paging.advance(5, "B")
    paging.advance(5, None)
    assert paging.done and paging.pages == 4


def test_cursor_coming_back_after_another_is_a_loop():
    """A, B, A: the API sent us back to a page already read."""
    paging = CursorPaging()
    paging.advance(5, "A")
    paging.advance(5, "B")
    with pytest.raises(PagingError, match="cursor loop"):
        paging.advance(5, "A")


def test_cursor_loop_back_to_the_resume_cursor_is_caught():
    """A chain resumed from a stored cursor must not be sent back to it."""
    paging = CursorPaging(cursor="R")
    paging.advance(5, "B")
    with pytest.raises(PagingError, match="cursor loop"):
        paging.advance(5, "R")


@pytest.mark.parametrize("bad", [123, ["a"], {"c": 1}, True])
def test_cursor_of_a_non_string_type_is_a_paging_error(bad):
    paging = CursorPaging()
    with pytest.raises(PagingError, match="nextCursor"):
        paging.advance(5, bad)


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=50), st.integers(1, 500))
def test_cursor_chain_visits_distinct_cursors_in_order(cursors, page_len):
    """For any sequence of distinct cursors, each next request carries the last one,
    and the chain ends only when the API stops sending one."""
    paging = CursorPaging()
    asked = []
    for cursor in cursors:
        assert not paging.done
        asked.append(paging.params().get("cursor"))
        paging.advance(page_len, cursor)
    asked.append(paging.params().get("cursor"))
    paging.advance(page_len, None)
    assert paging.done
    assert asked == [None, *cursors]
    assert paging.pages == len(cursors) + 1


# OffsetPaging ------------------------------------------------------------------


def _run(paging: OffsetPaging, replies: list[tuple[int, object]]) -> list[int]:
    """Feed replies until done; returns the offsets asked for."""
    offsets = []
    for items, total in replies:
        if paging.done:
            break
        offsets.append(paging.params()["offset"])
        paging.advance(items, total)
    return offsets


def test_offset_chain_ends_when_offset_reaches_total_count():
    paging = OffsetPaging(limit=100)
    offsets = _run(paging, [(100, 250), (100, 250), (50, 250), (0, 250)])
    assert offsets == [0, 100, 200]
    assert paging.done and paging.offset == 250


def test_offset_chain_asks_with_limit_and_offset():
    assert OffsetPaging(limit=500, offset=1000).params() == {"limit": 500, "offset": 1000}


def test_offset_chain_of_zero_total_ends_after_one_page():
    paging = OffsetPaging(limit=100)
    paging.advance(0, 0)
    assert paging.done and paging.pages == 1


def test_offset_chain_ends_on_an_empty_page_below_total_count():
    paging = OffsetPaging(limit=100)
    paging.advance(100, 1000)
    paging.advance(0, 1000)
    assert paging.done
    assert paging.offset == 100


def test_offset_chain_with_a_server_page_cap_below_limit_is_not_a_runaway():
    """The server returns 10 per page whatever we ask: 1000 pages, all legitimate."""
    paging = OffsetPaging(limit=500)
    while not paging.done:
        paging.advance(10, 10_000)
    assert paging.pages == 1000
    assert paging.offset == 10_000


def test_offset_chain_tolerates_a_modestly_growing_total_count():
    """New executions arriving while we page push totalCount up a little."""
    paging = OffsetPaging(limit=100)
    total = 1000
    while not paging.done:
        paging.advance(min(100, total - paging.offset), total)
        total += 5
    assert paging.offset >= 1000


@pytest.mark.parametrize("drift", [-3, -1, 1, 3])
def test_offset_chain_survives_a_total_count_that_drifts(drift):
    """A totalCount off by a few (either way) neither ends the chain early nor spins it."""
    actual, paging = 1000, OffsetPaging(limit=100)
    while not paging.done:
        paging.advance(min(100, max(0, actual - paging.offset)), actual + drift)
    assert paging.offset == actual


@pytest.mark.parametrize("growth", [100, 150, 1000])
def test_offset_chain_with_a_total_count_growing_every_page_is_stopped(growth):
    """A totalCount that grows at least as fast as we page would never be reached:
    stopped as runaway within a number of pages bounded by the first totalCount."""
    paging = OffsetPaging(limit=100)
    total = 1000
    with pytest.raises(PagingError, match="without reaching totalCount"):
        for _ in range(10_000):
            total += growth
            paging.advance(100, total)
    first_total = 1000 + growth
    assert paging.pages <= 2 * -(-first_total // 100) + 11


@pytest.mark.parametrize("bad", [None, "10", 10.0, -1, True, [10]])
def test_offset_chain_rejects_a_total_count_that_is_not_a_non_negative_integer(bad):
    paging = OffsetPaging(limit=100)
    with pytest.raises(PagingError, match="totalCount"):
        paging.advance(10, bad)


@given(st.integers(0, 5000), st.integers(1, 500), st.integers(1, 500))
def test_offset_chain_reads_exactly_total_count_whatever_the_page_cap(total, limit, cap):
    """A stable totalCount is read to the end, once, with no false runaway."""
    paging = OffsetPaging(limit=limit)
    while not paging.done:
        remaining = total - paging.offset
        paging.advance(min(limit, cap, remaining), total)
    assert paging.offset == total
