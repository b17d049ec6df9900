"""The `[[custom]]` contract: the issue's example validates, each mistake is one line
naming the stream and what to fix."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from harvester.errors import ConfigError, ExitCode
from harvester.sources.custom.config import (
    CursorSpec,
    NoPaging,
    OffsetSpec,
    validate_streams,
)

ISSUE_EXAMPLE = '''
[[custom]]
name = "github_audit"
connection = "my-github"
url = "https://api.github.com/orgs/acme/audit-log"
method = "GET"
query = { per_page = 100 }
headers = { Accept = "application/json" }
body = {}
records = "data.items"
id = "id"
time = "created_at"
paging = { kind = "cursor", param = "after", next = "meta.next_cursor" }
window = { from = "since", to = "until", format = "iso" }
slice_days = 31
'''


def _base(**fields: Any) -> dict[str, Any]:
    return {"name": "audit", "connection": "my-github", "url": "https://api.example.com/v1/audit", **fields}


def _error(entries: list[Any]) -> str:
    with pytest.raises(ConfigError) as info:
        validate_streams(entries)
    assert info.value.exit_code == ExitCode.CONFIG
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_issue_example_is_valid_except_its_get_with_a_body() -> None:
    entries = tomllib.loads(ISSUE_EXAMPLE)["custom"]
    assert _error(entries) == "[[custom]] github_audit: body needs method POST (a GET request has no body)"
    del entries[0]["body"]
    (stream,) = validate_streams(entries)
    assert stream.table == "custom_github_audit"
    assert stream.paging == CursorSpec(kind="cursor", param="after", next="meta.next_cursor")
    assert stream.window is not None and (stream.window.from_, stream.window.to) == ("since", "until")
    assert (stream.method, stream.query, stream.records) == ("GET", {"per_page": 100}, "data.items")


def test_defaults_read_the_whole_reply_once() -> None:
    (stream,) = validate_streams([_base()])
    assert (stream.records, stream.id, stream.time, stream.window, stream.slice_days) == ("", None, None, None, 31)
    assert stream.paging == NoPaging()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"extra": 1}, "[[custom]] audit: extra: unknown key; remove it or check its spelling"),
        ({"name": "Audit"}, "[[custom]] #1: name: 'Audit' must match [a-z][a-z0-9_]* (it names the table custom_<name>)"),
        ({"name": "9a"}, "[[custom]] #1: name: '9a' must match [a-z][a-z0-9_]*"),
        ({"connection": " "}, "[[custom]] audit: connection: ' ' is not a connection name"),
        ({"url": "http://2130706433/x"}, "[[custom]] audit: url: 'http://2130706433/x' targets the internal IP 127.0.0.1"),
        ({"url": "http://[::ffff:169.254.169.254]/"}, "[[custom]] audit: url: 'http://[::ffff:169.254.169.254]/' targets the internal IP 169.254.169.254"),
        ({"url": "ftp://x.test/"}, "[[custom]] audit: url: 'ftp://x.test/' must be a full http:// or https:// URL"),
        ({"method": "DELETE"}, "[[custom]] audit: method: 'DELETE' is not allowed: a harvest only reads"),
        ({"records": "data..items"}, "[[custom]] audit: records: 'data..items' is not a dotted path like data.items"),
        ({"id": ""}, "[[custom]] audit: id: '' is not a dotted path"),
        ({"paging": {"kind": "links"}}, "[[custom]] audit: paging: Input tag 'links' found using 'kind' does not match"),
        ({"paging": {"kind": "offset", "param": "offset"}}, "[[custom]] audit: paging.size_param: missing; it is required"),
        ({"paging": {"kind": "cursor", "param": "after", "next": "n", "size": 1}}, "[[custom]] audit: paging.size: unknown key"),
        ({"window": {"from": "since", "to": "until", "format": "unix"}}, "[[custom]] audit: window.format: Input should be"),
        ({"window": {"to": "until"}}, "[[custom]] audit: window.from: missing; it is required"),
        ({"slice_days": 32}, "[[custom]] audit: slice_days: Input should be less than or equal to 31"),
        ({"slice_days": 0}, "[[custom]] audit: slice_days: Input should be greater than or equal to 1"),
        ({"query": {"page": 1}, "paging": {"kind": "page", "param": "page"}},
         "[[custom]] audit: query key 'page' is also paging.param: remove it from query"),
        ({"window": {"from": "t", "to": "t"}}, "[[custom]] audit: window.to and window.from are both 't'"),
        ({"headers": {"Bad Header": "x"}}, "[[custom]] audit: headers: 'Bad Header' is not a header name"),
        ({"headers": {"X-A": "a\r\nHost: evil"}}, "[[custom]] audit: headers: the value of X-A holds a line break"),
    ],
)
def test_each_mistake_is_one_line_naming_the_stream(fields: dict[str, Any], message: str) -> None:
    assert _error([_base(**fields)]).startswith(message)


def test_a_header_value_is_never_echoed() -> None:
    for headers in ({"Authorization": "Bearer sk_live_secret\n"}, {"Authorization": ["sk_live_secret"]}):
        message = _error([_base(headers=headers)])
        assert message.startswith("[[custom]] audit: headers") and "sk_live_secret" not in message


def test_names_must_be_unique() -> None:
    assert _error([_base(), _base(url="https://b.test/")]) == (
        "[[custom]] audit: name is used by another [[custom]] entry; names must be unique")


def test_custom_must_be_a_list_of_tables() -> None:
    assert _error({"name": "a"}) == "custom: must be a list of tables ([[custom]]), not a single value"  # type: ignore[arg-type]
    assert _error(["x"]) == "[[custom]] #1: must be a table of keys, not a single value"


def test_post_is_the_method_for_a_body_and_offset_total_is_optional() -> None:
    (stream,) = validate_streams([_base(method="post", body={"q": 1},
                                        paging={"kind": "offset", "param": "o", "size_param": "n"})])
    assert stream.method == "POST"
    assert stream.paging == OffsetSpec(kind="offset", param="o", size_param="n", total=None)
