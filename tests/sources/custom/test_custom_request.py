"""Seed 002 on the harvester's side: the `parameters` it builds, and its reading of them.

Every example of the seed, read back with `resolve`, gives the request the seed
states; the declaration that means the same request builds exactly the object
listed; and each row of the seed's two tables holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from harvester.sources.custom.config import CustomStream
from harvester.sources.custom.request import (
    CustomCall,
    CustomRequestError,
    build_parameters,
    resolve,
)

from .seed_examples import SEED_EXAMPLES, SeedExample

URL = "https://api.example.com/v1/items"


def _request(params: dict[str, Any]) -> tuple[str, str, dict[str, str], Any]:
    r = resolve(params)
    return r.method, r.url, r.headers, r.body


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: e.name)
def test_seed_example_literal_resolves_to_the_stated_request(example: SeedExample) -> None:
    assert _request(example.literal) == (example.method, example.url, example.headers, example.body)


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: e.name)
def test_seed_example_declaration_builds_the_exact_parameters(example: SeedExample) -> None:
    built = build_parameters(example.call)
    assert built == example.built
    assert _request(built) == (example.method, example.url, example.headers, example.body)


# --- the seed's tables, row by row -------------------------------------------------


def test_rest_table_empty_rest_is_a_get_with_nothing() -> None:
    assert _request({"_url": URL}) == ("GET", URL, {}, None)


def test_rest_table_non_empty_rest_is_a_post_with_a_json_body() -> None:
    assert _request({"_url": URL, "foo": 1, "bar": 2}) == ("POST", URL, {"Content-Type": "application/json"},
                                                            {"foo": 1, "bar": 2})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "post"])
def test_body_methods_set_json_content_type_and_carry_rest_as_body(method: str) -> None:
    assert _request({"_url": URL, "_method": method, "a": 1}) == (
        method.upper(), URL, {"Content-Type": "application/json"}, {"a": 1})


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD"])
def test_query_methods_put_rest_params_in_the_query_string(method: str) -> None:
    assert _request({"_url": URL, "_method": method, "a": 1, "b": "x y"}) == (method, f"{URL}?a=1&b=x%20y", {}, None)


def test_reserved_url_is_required_and_must_be_http() -> None:
    for params in ({}, {"_url": "ftp://x.test/a"}, {"_url": "api.example.com/v1"}, {"_url": 7}, {"foo": 1}):
        with pytest.raises(CustomRequestError) as info:
            resolve(params)
        assert str(info.value).startswith('Bad Request: The "custom" action requires "_url"')


def test_reserved_url_on_a_blocked_literal_is_the_internal_ip_error() -> None:
    for url, address in (("http://2130706433/x", "127.0.0.1"), ("http://[::ffff:10.0.0.1]/", "10.0.0.1")):
        with pytest.raises(CustomRequestError) as info:
            resolve({"_url": url})
        assert str(info.value) == f'Bad Request: The "custom" action cannot target the internal IP {address}'


def test_reserved_method_forces_the_method() -> None:
    assert _request({"_url": URL, "_method": "PUT"})[0] == "PUT"
    assert _request({"_url": URL, "_method": "GET", "a": 1})[0] == "GET"


def test_reserved_query_is_appended_even_when_the_method_has_a_body() -> None:
    assert _request({"_url": URL + "?x=0", "a": 1, "_query": {"page": 2}}) == (
        "POST", URL + "?x=0&page=2", {"Content-Type": "application/json"}, {"a": 1})


def test_reserved_body_overrides_rest_params() -> None:
    method, url, _, body = _request({"_url": URL, "_method": "POST", "a": 1, "_body": [1, 2]})
    assert (method, body) == ("POST", [1, 2])
    assert url == URL + "?a=1"  # rest params cannot be the body any more
    assert _request({"_url": URL, "_method": "DELETE", "_body": {"why": "dup"}})[3] == {"why": "dup"}


def test_reserved_headers_merge_on_top_case_insensitively() -> None:
    _, _, headers, _ = _request({"_url": URL, "a": 1, "_headers": {"content-type": "text/plain", "X-A": "1"}})
    assert headers == {"content-type": "text/plain", "X-A": "1"}


def test_query_values_are_written_as_the_seed_writes_them() -> None:
    _, url, _, _ = _request({"_url": URL, "_query": {"t": True, "f": False, "n": None, "l": [1, "a"], "o": {"k": 1}}})
    assert url == URL + "?t=true&f=false&l=1&l=a&o=%7B%22k%22%3A1%7D"


def test_unknown_underscore_keys_are_reserved_not_rest_params() -> None:
    assert _request({"_url": URL, "_secret": 1}) == ("GET", URL, {}, None)


def test_fragment_is_never_sent() -> None:
    assert _request({"_url": URL + "?a=1#frag", "_query": {"b": 2}})[1] == URL + "?a=1&b=2"


# --- building from a stream ----------------------------------------------------------


def _stream(**fields: Any) -> CustomStream:
    return CustomStream(name="s", connection="c", url=URL, **fields)


def test_paging_and_window_params_join_the_config_query_in__query() -> None:
    stream = _stream(query={"per_page": 100}, paging={"kind": "cursor", "param": "after", "next": "next"},
                     window={"from": "since", "to": "until"})
    params = build_parameters(stream, {"after": "c2"}, {"since": "2025-01-01T00:00:00.000Z", "until": "x"})
    assert params == {"_url": URL, "_query": {"per_page": 100, "since": "2025-01-01T00:00:00.000Z", "until": "x",
                                               "after": "c2"}}
    assert resolve(params).url == URL + "?per_page=100&since=2025-01-01T00%3A00%3A00.000Z&until=x&after=c2"


def test_a_post_search_keeps_paging_in_the_query_and_the_filter_in_the_body() -> None:
    stream = _stream(method="post", body={"filter": {"status": "open"}}, headers={"Notion-Version": "2022-06-28"},
                     paging={"kind": "page", "param": "page", "size_param": "size"})
    params = build_parameters(stream, {"page": 3, "size": 50})
    assert params == {"_url": URL, "_method": "POST", "_query": {"page": 3, "size": 50},
                      "_body": {"filter": {"status": "open"}}, "_headers": {"Notion-Version": "2022-06-28"}}
    assert _request(params) == ("POST", URL + "?page=3&size=50",
                                {"Content-Type": "application/json", "Notion-Version": "2022-06-28"},
                                {"filter": {"status": "open"}})


def test_a_next_url_page_sends_that_url_alone() -> None:
    stream = _stream(query={"limit": 10}, paging={"kind": "next_url", "next": "links.next"})
    following = "https://api.example.com/v1/items?page_token=abc&limit=10"
    assert build_parameters(stream, {"_url": following}, {"since": "x"}) == {"_url": following}
    assert build_parameters(stream, {}) == {"_url": URL, "_query": {"limit": 10}}


def test_a_call_declaration_is_a_request_shape_too() -> None:
    call = CustomCall(URL, method="get", query={"q": "a"}, headers={"Accept": "application/json"})
    assert build_parameters(call) == {"_url": URL, "_method": "GET", "_query": {"q": "a"},
                                      "_headers": {"Accept": "application/json"}}
