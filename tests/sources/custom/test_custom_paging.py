"""Paging state of custom streams: each kind walks its chain, resumes from its
checkpoint, and stops a misbehaving upstream with a one-line PagingError.

Generated records are unique, as real records (with ids and times) are: two equal
pages in a row are read as an upstream that ignores the paging parameter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.errors import PagingError
from harvester.sources.custom.config import CustomStream
from harvester.sources.custom.paging import MAX_TOKEN, Paging, paging_for
from harvester.sources.custom.records import page_records

URL = "https://api.example.com/v1/events"
Server = Callable[[dict[str, Any]], Any]


def _stream(paging: dict[str, Any], records: str = "items") -> CustomStream:
    return CustomStream(name="s", connection="c", url=URL, records=records, paging=paging)


def _walk(stream: CustomStream, server: Server, page_size: int = 3, paging: Paging | None = None,
          max_pages: int = 1000) -> tuple[list[Any], list[tuple[str | None, int]]]:
    """Drive the paging against a reply function; (records, checkpoints)."""
    paging = paging or paging_for(stream, None, page_size)
    records: list[Any] = []
    checkpoints: list[tuple[str | None, int]] = []
    for _ in range(max_pages):
        if paging.done:
            return records, checkpoints
        reply = server(paging.params())
        page = page_records(reply, stream.records)
        records += page
        paging.advance(len(page), reply)
        checkpoints.append(paging.checkpoint())
    raise AssertionError("paging did not end")


def _cursor_server(data: list[int], size: int) -> Server:
    def reply(params: dict[str, Any]) -> Any:
        start = int(params.get("after", "c0")[1:])
        end = start + size
        return {"items": data[start:end], "meta": {"next": f"c{end}" if end < len(data) else None}}
    return reply


def _offset_server(data: list[int], cap: int, total_drift: int = 0) -> Server:
    def reply(params: dict[str, Any]) -> Any:
        offset, limit = params["offset"], min(params["limit"], cap)
        return {"items": data[offset : offset + limit], "total": len(data) + total_drift}
    return reply


def _page_server(data: list[int], start: int) -> Server:
    def reply(params: dict[str, Any]) -> Any:
        size = params.get("per_page", 4)
        lo = (params["page"] - start) * size
        return {"items": data[lo : lo + size]}
    return reply


@given(st.lists(st.integers(), max_size=40, unique=True), st.integers(1, 7))
def test_cursor_chain_reads_every_record_once(data: list[int], size: int) -> None:
    stream = _stream({"kind": "cursor", "param": "after", "next": "meta.next"})
    records, _ = _walk(stream, _cursor_server(data, size))
    assert records == data


def test_cursor_first_page_has_no_cursor_then_sends_the_one_received() -> None:
    paging = paging_for(_stream({"kind": "cursor", "param": "after", "next": "next"}), None, 10)
    assert paging.params() == {}
    paging.advance(2, {"next": 17})
    assert paging.params() == {"after": "17"}  # an integer cursor is sent as text
    assert paging.checkpoint() == ("17", 1)


@given(st.lists(st.integers(), max_size=40, unique=True), st.integers(1, 7), st.integers(1, 12), st.integers(-3, 3))
def test_offset_chain_reads_every_record_once_with_capped_pages(data: list[int], size: int, cap: int,
                                                                drift: int) -> None:
    for total in ("total", None):
        spec = {"kind": "offset", "param": "offset", "size_param": "limit", **({"total": total} if total else {})}
        records, checkpoints = _walk(_stream(spec), _offset_server(data, cap, 0), page_size=size)
        assert records == data
        assert checkpoints[-1] == (None, len(data))


def test_offset_total_ends_the_chain_without_an_empty_page() -> None:
    calls: list[dict[str, Any]] = []
    server = _offset_server(list(range(6)), 3)
    stream = _stream({"kind": "offset", "param": "offset", "size_param": "limit", "total": "total"})
    _walk(stream, lambda p: calls.append(p) or server(p), page_size=3)
    assert calls == [{"offset": 0, "limit": 3}, {"offset": 3, "limit": 3}]


def test_offset_total_missing_or_wrong_is_a_paging_error() -> None:
    stream = _stream({"kind": "offset", "param": "o", "size_param": "n", "total": "meta.total"})
    for reply, shown in (({"items": [1]}, "missing"), ({"items": [1], "meta": {"total": "9"}}, "str")):
        paging = paging_for(stream, None, 5)
        with pytest.raises(PagingError, match=rf"^total at 'meta.total' is {shown}, expected a non-negative integer$"):
            paging.advance(1, reply)


@given(st.lists(st.integers(), max_size=30, unique=True), st.integers(0, 2), st.booleans())
def test_page_chain_reads_every_record_and_ends_on_an_empty_page(data: list[int], start: int, sized: bool) -> None:
    spec = {"kind": "page", "param": "page", "start": start, **({"size_param": "per_page"} if sized else {})}
    records, checkpoints = _walk(_stream(spec), _page_server(data, start), page_size=4)
    assert records == data
    pages = -(-len(data) // 4)
    assert checkpoints[-1] == (None, start + pages)


def test_page_params_carry_the_size_only_when_configured() -> None:
    assert paging_for(_stream({"kind": "page", "param": "p"}), None, 50).params() == {"p": 1}
    sized = _stream({"kind": "page", "param": "p", "start": 0, "size_param": "n"})
    assert paging_for(sized, None, 50).params() == {"p": 0, "n": 50}


def test_a_page_repeating_the_previous_one_means_the_param_is_ignored() -> None:
    stream = _stream({"kind": "page", "param": "pg"})
    with pytest.raises(PagingError, match="^the upstream returned the same records twice in a row: does it read 'pg'\\?$"):
        _walk(stream, lambda params: {"items": [1, 2, 3]})


def test_next_url_chain_follows_urls_on_the_stream_host() -> None:
    stream = _stream({"kind": "next_url", "next": "links.next"})
    pages = {None: ([1, 2], URL + "?t=2"), URL + "?t=2": ([3], URL + "?t=3"), URL + "?t=3": ([], None)}
    records, checkpoints = _walk(stream, lambda p: dict(zip(("items", "links"), (
        pages[p.get("_url")][0], {"next": pages[p.get("_url")][1]}))))
    assert records == [1, 2, 3]
    assert checkpoints == [(URL + "?t=2", 1), (URL + "?t=3", 2), (URL + "?t=3", 3)]


@pytest.mark.parametrize(
    ("following", "reason"),
    [
        ("https://evil.test/steal", "next_url refused: url 'https://evil.test/steal' leaves the stream's host"),
        ("http://169.254.169.254/latest", "next_url refused: url 'http://169.254.169.254/latest' targets the internal IP"),
        ("http://0x7f.1/", "next_url refused: url 'http://0x7f.1/' targets the internal IP 127.0.0.1"),
        ("file:///etc/passwd", "next_url refused: url 'file:///etc/passwd' must be a full http:// or https:// URL"),
        (URL + "?t=" + "x" * MAX_TOKEN, f"is {len(URL) + 3 + MAX_TOKEN} characters long, more than {MAX_TOKEN}"),
        ({"u": 1}, "next_url at 'links.next' is dict, expected a string"),
    ],
)
def test_a_bad_next_url_fails_the_partition_in_one_line(following: Any, reason: str) -> None:
    paging = paging_for(_stream({"kind": "next_url", "next": "links.next"}), None, 10)
    with pytest.raises(PagingError) as info:
        paging.advance(1, {"links": {"next": following}})
    assert reason in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["cursor", "next_url"])
def test_a_token_that_comes_back_is_a_loop(kind: str) -> None:
    spec = {"kind": "cursor", "param": "c", "next": "n"} if kind == "cursor" else {"kind": "next_url", "next": "n"}
    tokens = ["a", "b", "a"] if kind == "cursor" else [URL + "?a", URL + "?b", URL + "?a"]
    paging = paging_for(_stream(spec), None, 10)
    paging.advance(1, {"n": tokens[0]})
    paging.advance(1, {"n": tokens[1]})
    with pytest.raises(PagingError, match=f"^{kind} loop: page 3 returned a {kind} already followed$"):
        paging.advance(1, {"n": tokens[2]})
    same = paging_for(_stream(spec), None, 10)
    same.advance(1, {"n": tokens[0]})
    with pytest.raises(PagingError, match="loop"):
        same.advance(1, {"n": tokens[0]})


def test_a_cursor_longer_than_4096_characters_fails() -> None:
    paging = paging_for(_stream({"kind": "cursor", "param": "c", "next": "n"}), None, 10)
    paging.advance(1, {"n": "x" * MAX_TOKEN})
    with pytest.raises(PagingError, match=f"^cursor at 'n' is {MAX_TOKEN + 1} characters long, more than {MAX_TOKEN}$"):
        paging.advance(1, {"n": "y" * (MAX_TOKEN + 1)})


def test_fresh_cursors_over_empty_pages_end_after_five() -> None:
    paging = paging_for(_stream({"kind": "cursor", "param": "c", "next": "n"}), None, 10)
    for i in range(5):
        assert not paging.done
        paging.advance(0, {"n": f"c{i}"})
    assert paging.done


@pytest.mark.parametrize(
    ("spec", "server"),
    [
        ({"kind": "cursor", "param": "after", "next": "meta.next"}, _cursor_server(list(range(20)), 3)),
        ({"kind": "offset", "param": "offset", "size_param": "limit", "total": "total"},
         _offset_server(list(range(20)), 3)),
        ({"kind": "page", "param": "page", "size_param": "per_page"}, _page_server(list(range(20)), 1)),
    ],
)
def test_resuming_from_any_checkpoint_reads_the_rest_exactly(spec: dict[str, Any], server: Server) -> None:
    stream = _stream(spec)
    everything, checkpoints = _walk(stream, server, page_size=3)
    assert everything == list(range(20))
    for page, checkpoint in enumerate(checkpoints[:-1], 1):
        rest, _ = _walk(stream, server, page_size=3, paging=paging_for(stream, checkpoint, 3))
        assert rest == everything[min(3 * page, 20):]


def test_a_stored_next_url_is_checked_again_on_resume() -> None:
    stream = _stream({"kind": "next_url", "next": "n"})
    assert paging_for(stream, (URL + "?p=2", 1), 10).params() == {"_url": URL + "?p=2"}
    with pytest.raises(PagingError, match="leaves the stream's host"):
        paging_for(stream, ("https://elsewhere.test/p=2", 1), 10)


def test_no_paging_is_one_request() -> None:
    paging = paging_for(_stream({"kind": "none"}), None, 10)
    assert (paging.params(), paging.done) == ({}, False)
    paging.advance(3, [1, 2, 3])
    assert paging.done and paging.checkpoint() == (None, 0)
