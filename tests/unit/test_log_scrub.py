"""The log scrubber hides the token where it can occur, and nothing else (issue 7.3)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
import pytest
import structlog

from harvester.logs import configure_logging


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    configure_logging(json=True, level="warning")  # back to the suite's setting (tests/conftest.py)


def _emit(out: io.StringIO, token: str) -> list[dict[str, str]]:
    configure_logging(json=True, level="info", secrets=(token,), stream=out)
    log = structlog.get_logger("harvester.test")
    log.info("fetch.started", stream="connector_action_logs", note="partition started at 2025-01-01T00:00:00.000Z")
    log.info("fetch.request", headers=str({"Api-Authorization": f"Bearer {token}"}), url=f"http://h/x?token={token}&a=1")
    log.info("fetch.error", error=f"reply quoted the request: prefix{token}suffix")
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_one_character_token_leaves_the_logs_readable(logged: io.StringIO) -> None:
    started, request, error = _emit(logged, "t")
    assert started["event"] == "fetch.started"
    assert started["stream"] == "connector_action_logs"
    assert started["note"] == "partition started at 2025-01-01T00:00:00.000Z"
    assert request["headers"] == "{'Api-Authorization': 'Bearer [REDACTED]'}"
    assert request["url"] == "http://h/x?token=[REDACTED]&a=1"
    assert error["error"] == "reply quoted the request: prefixtsuffix"  # a bare "t" inside a word is just text


def test_a_long_token_is_never_printed_wherever_it_appears(logged: io.StringIO) -> None:
    token = "tok-S3cret-0123456789"
    records = _emit(logged, token)
    assert token not in logged.getvalue()
    assert records[1]["headers"] == "{'Api-Authorization': 'Bearer [REDACTED]'}"
    assert records[2]["error"] == "reply quoted the request: prefix[REDACTED]suffix"
