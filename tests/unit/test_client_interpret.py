"""`interpret`: a raw HTTP reply → the action's data or the error it stands for; and the
execute URL, whose connection name must never change the host or leave the path."""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit

import orjson
import pytest

from harvester.errors import (
    ActionError,
    AuthError,
    ConfigError,
    FetchError,
    ReplyTooLargeError,
    TransientError,
    WindowRefusedError,
)
from harvester.sources.abstra.client import (
    ConnectionNotFoundError,
    _execute_url,
    interpret,
)
from harvester.transport import Response

ACTION = "get_auth_attempt_logs"


def _reply(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(status, headers or {"Content-Type": "application/json"}, raw)


@pytest.mark.parametrize(
    "data",
    [{"entries": [{"id": "a"}], "nextCursor": None}, [{"id": "m1", "email": "a@example.com"}], [], None],
    ids=["dict", "list", "empty-list", "null"],
)
def test_success_returns_data_whatever_its_shape(data):
    assert interpret(_reply(200, {"status": "success", "data": data}), ACTION) == data


def test_status_error_with_http_200_is_an_action_error_carrying_the_server_message():
    reply = _reply(200, {"status": "error", "message": "Project p9 does not belong to this organization"})
    with pytest.raises(ActionError, match="Project p9 does not belong") as info:
        interpret(reply, ACTION)
    assert type(info.value) is ActionError
    assert info.value.action == ACTION and info.value.status == 200


def test_status_error_with_http_400_is_an_action_error():
    reply = _reply(400, {"status": "error", "message": "invalid parameter limit"})
    with pytest.raises(ActionError, match="invalid parameter limit") as info:
        interpret(reply, ACTION)
    assert type(info.value) is ActionError and info.value.status == 400


def test_http_400_without_an_envelope_is_an_action_error():
    with pytest.raises(ActionError, match="HTTP 400") as info:
        interpret(_reply(400, b"Bad Request"), ACTION)
    assert type(info.value) is ActionError


@pytest.mark.parametrize("status", [200, 400, 422])
@pytest.mark.parametrize(
    "message",
    ["The date range cannot exceed 31 days", "Window too large", "Too many projectIds: max 100 projects"],
)
def test_window_or_batch_refusal_is_a_window_refused_error(status, message):
    with pytest.raises(WindowRefusedError, match="refused by the API"):
        interpret(_reply(status, {"status": "error", "message": message}), ACTION)


def test_error_message_is_cut_to_one_bounded_line_piece():
    reply = _reply(200, {"status": "error", "message": "x" * 5000})
    with pytest.raises(ActionError) as info:
        interpret(reply, ACTION)
    assert len(str(info.value)) < 700


def test_status_error_without_a_message_says_so():
    with pytest.raises(ActionError, match="no message"):
        interpret(_reply(200, {"status": "error"}), ACTION)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_auth_errors_naming_the_token_variable(status):
    with pytest.raises(AuthError, match="ABSTRA_API_TOKEN") as info:
        interpret(_reply(status, {"status": "error", "message": "unauthorized"}), ACTION)
    assert info.value.status == status


@pytest.mark.parametrize(
    "body", [b"Not Found", orjson.dumps({"status": "error", "message": "Connection not found"})]
)
def test_404_is_connection_not_found_a_config_problem(body):
    with pytest.raises(ConnectionNotFoundError, match="connection") as info:
        interpret(_reply(404, body), ACTION)
    assert info.value.exit_code == ConfigError.exit_code


_DEEP_AND_LARGE = (
    b'{"status": "error", "message": "x", "detail": [' + b"[" * 1100 + b"]" * 1100 + b"," + b",".join([b"0"] * 600_000) + b"]}"
)


def test_an_error_reply_too_large_for_the_slow_reading_still_means_its_status():
    """A body nested too deep for the parsers and too large for the slow reading cannot
    be read, but its status still decides: a 404 stays a wrong connection, a 400 a
    refusal; only a 2xx fails as too large."""
    with pytest.raises(ConnectionNotFoundError, match="HTTP 404"):
        interpret(_reply(404, _DEEP_AND_LARGE), ACTION)
    with pytest.raises(ActionError, match="HTTP 400") as refused:
        interpret(_reply(400, _DEEP_AND_LARGE), ACTION)
    assert not isinstance(refused.value, ReplyTooLargeError)
    with pytest.raises(ReplyTooLargeError, match="more than the 500,000"):
        interpret(_reply(200, _DEEP_AND_LARGE), ACTION)


def test_429_with_retry_after_is_transient_with_the_wait():
    reply = _reply(429, b"", {"retry-after": "7"})
    with pytest.raises(TransientError) as info:
        interpret(reply, ACTION)
    assert info.value.retry_after == 7.0 and info.value.status == 429


def test_retry_after_header_name_is_case_insensitive():
    with pytest.raises(TransientError) as info:
        interpret(_reply(503, b"", {"RETRY-AFTER": "3"}), ACTION)
    assert info.value.retry_after == 3.0


def test_429_without_retry_after_is_transient_with_no_wait():
    with pytest.raises(TransientError) as info:
        interpret(_reply(429, b""), ACTION)
    assert info.value.retry_after is None


def test_413_with_retry_after_is_transient_like_the_sdk():
    with pytest.raises(TransientError):
        interpret(_reply(413, b"", {"Retry-After": "1"}), ACTION)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("body", [b"<html><body>Bad gateway</body></html>", b'{"status": "error", "message": "x"}'])
def test_server_errors_are_transient(status, body):
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        interpret(_reply(status, body), ACTION)


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "success", "data": {"entries": [{"id": "a"',
        b"<html><head><title>Gateway</title></head></html>",
        b"",
    ],
    ids=["truncated-json", "html", "empty"],
)
def test_http_200_with_a_body_that_is_not_json_is_transient(body):
    with pytest.raises(TransientError, match="not valid JSON"):
        interpret(_reply(200, body), ACTION)


@pytest.mark.parametrize(
    "body",
    [{"data": 1}, {"status": "success"}, {"status": "weird", "data": 1}, [1, 2], "text"],
)
def test_http_200_without_a_success_envelope_is_transient(body):
    with pytest.raises(TransientError, match="envelope"):
        interpret(_reply(200, body), ACTION)


def test_every_interpreted_failure_is_a_fetch_error_naming_the_action():
    for reply in (_reply(401, b""), _reply(500, b""), _reply(200, b"<"), _reply(200, {"status": "error"})):
        with pytest.raises(FetchError) as info:
            interpret(reply, ACTION)
        assert info.value.action == ACTION


# _execute_url --------------------------------------------------------------------

ENDPOINT = "https://cloud-api.abstra.cloud"
PREFIX = "/cli/connectors/connection/"


def _assert_confined(url: str, connection: str) -> None:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "cloud-api.abstra.cloud")
    assert parts.query == "" and parts.fragment == ""
    assert parts.path.startswith(PREFIX) and parts.path.endswith("/execute")
    segment = parts.path[len(PREFIX) : -len("/execute")]
    assert "/" not in segment, "the name is one path segment"
    assert unquote(segment) == connection, "the name round-trips"
    # What a client or server resolving dot segments would actually request:
    assert urlsplit(urljoin(url, ".")).path.startswith(PREFIX)


@pytest.mark.parametrize(
    "connection",
    ["abstra-manager", "../x", "a/b?c", "../../admin", "x#frag", "@evil.example", "a b%2F", "//evil.example/x", "..x"],
)
def test_execute_url_keeps_the_connection_inside_the_path_and_the_host(connection):
    _assert_confined(_execute_url(ENDPOINT, connection), connection)


def test_execute_url_ignores_a_trailing_slash_on_the_endpoint():
    assert _execute_url(ENDPOINT + "/", "abstra-manager") == (
        "https://cloud-api.abstra.cloud/cli/connectors/connection/abstra-manager/execute"
    )


@pytest.mark.parametrize("connection", ["..", "."])
def test_execute_url_refuses_or_confines_dot_segment_names(connection):
    """`.`/`..` as a path segment would be resolved away by the client or the server."""
    try:
        url = _execute_url(ENDPOINT, connection)
    except ConfigError:
        return
    assert connection not in urlsplit(url).path.split("/")


def test_a_reply_with_bytes_that_are_not_utf8_still_parses_so_one_entry_can_be_rejected():
    from harvester.pages import Reject
    from harvester.records import RowBuilder
    from harvester.sources.abstra.streams import TABLES

    body = (
        b'{"status":"success","data":{"entries":['
        b'{"id":"a","createdAt":"2025-01-01T00:00:00.000Z","email":"bad\xff"},'
        b'{"id":"b","createdAt":"2025-01-01T00:00:00.000Z","email":"ok@example.com"}],"nextCursor":null}}'
    )
    data = interpret(Response(200, {}, body), "get_auth_attempt_logs")
    builder = RowBuilder(TABLES["auth_attempt_logs"], required=("createdAt",))
    first, second = (builder.build(e, "auth_attempt_logs") for e in data["entries"])
    assert isinstance(first, Reject) and "cannot be stored" in first.reason
    assert isinstance(second, dict) and second["email"] == "ok@example.com"


def test_a_reply_with_an_integer_past_64_bits_still_parses():
    """orjson reads it as a float: the page is kept (precision of that one number aside)."""
    body = b'{"status":"success","data":{"n":123456789012345678901234567890}}'
    assert interpret(Response(200, {}, body), "x")["n"] == pytest.approx(1.2345678901234568e29)


# A log reply's quick reading (`_log_head`: the envelope by msgspec, entries left as
# bytes for the writer) must page exactly as the full reading (orjson + LogPage) does,
# or step aside and let the full reading decide.

LOG_BODIES = {
    "plain": b'{"status":"success","data":{"entries":[{"id":"a"},{"id":"b"}],"nextCursor":"c2"}}',
    "last page": b'{"status":"success","data":{"entries":[{"id":"a"}],"nextCursor":null}}',
    "no cursor key": b'{"status":"success","data":{"entries":[]}}',
    "no entries key": b'{"status":"success","data":{"nextCursor":"c"}}',
    "snake cursor": b'{"status":"success","data":{"entries":[{"id":"a"}],"next_cursor":"c9"}}',
    "odd cursor": b'{"status":"success","data":{"entries":[],"nextCursor":{"k":[1,2]}}}',
    "extra fields": b'{"status":"success","requestId":"r","data":{"entries":[{}],"nextCursor":"c","total":3}}',
    "repeated data key": b'{"status":"success","data":{"entries":[1],"nextCursor":"x"},"data":{"entries":[1,2]}}',
    "entries null": b'{"status":"success","data":{"entries":null,"nextCursor":null}}',
    "entries object": b'{"status":"success","data":{"entries":{"id":"a"}}}',
    "data a list": b'{"status":"success","data":[{"id":"a"}]}',
    "data null": b'{"status":"success","data":null}',
    "no data": b'{"status":"success"}',
    "error envelope": b'{"status":"error","message":"Project p9 does not belong to this organization"}',
    "other status": b'{"status":"pending","data":{"entries":[]}}',
    "not json": b'{"status":"success","data":{"entries":[',
    "not utf-8": b'{"status":"success","data":{"entries":[{"id":"a","email":"bad\xff"}],"nextCursor":null}}',
    "deep": b'{"status":"success","data":{"entries":[' + b"[" * 3000 + b"]" * 3000 + b'],"nextCursor":null}}',
    "float past a double": b'{"status":"success","data":{"entries":[{"id":"a","m":{"x":1e400}}],"nextCursor":null}}',
    "integer past 64 bits": b'{"status":"success","data":{"entries":[{"id":"a","n":-123456789012345678901}]}}',
    "cursor past 64 bits": b'{"status":"success","data":{"entries":[],"nextCursor":123456789012345678901234567890}}',
    "over 1 MiB of tiny entries": b'{"status":"success","data":{"entries":[' + b"0," * 600_000 + b'0],"nextCursor":"c"}}',
}


def _paged(response: Response, quick: bool) -> tuple[object, ...]:
    """(entries, next cursor) the fetcher pages with, or the error, from one reading."""
    from harvester.sources.abstra.client import LogReply, _interpret, _log_head
    from harvester.sources.abstra.client import _reply as as_model
    from harvester.sources.abstra.models import LogPage

    try:
        data, _ = _interpret(response, ACTION, _log_head if quick else None)
        if isinstance(data, LogReply):
            return data.count, data.next_cursor
        page = as_model(LogPage, data, ACTION, None, "entries")
        return len(page.entries), page.next_cursor
    except FetchError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("body", LOG_BODIES.values(), ids=LOG_BODIES.keys())
@pytest.mark.parametrize("status", [200, 201, 400, 404])
def test_the_quick_reading_of_a_log_reply_pages_as_the_full_reading(body: bytes, status: int) -> None:
    response = Response(status, {}, body)
    assert _paged(response, quick=True) == _paged(response, quick=False)


def test_the_quick_reading_keeps_only_plain_utf8_replies_as_bytes() -> None:
    """A reply it takes goes to the writer as bytes; one orjson would refuse (bytes that
    are not UTF-8, a number out of range) is left to the full reading (the tolerant
    parser, entry by entry, in Python), so the entry lands or is rejected as before."""
    from harvester.sources.abstra.client import LogReply, _interpret, _log_head

    assert isinstance(_interpret(Response(200, {}, LOG_BODIES["plain"]), ACTION, _log_head)[0], LogReply)
    odd = ("not utf-8", "deep", "snake cursor", "entries null", "float past a double", "integer past 64 bits",
           "over 1 MiB of tiny entries")  # the last: 48 bytes of msgspec.Raw per 2-byte entry
    for name in odd:
        data, _ = _interpret(Response(200, {}, LOG_BODIES[name]), ACTION, _log_head)
        assert not isinstance(data, LogReply), name
