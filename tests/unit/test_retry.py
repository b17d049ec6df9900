"""Retry-After parsing, the wait schedule, and which errors `call` retries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.errors import ActionError, AuthError, TransientError, WindowRefusedError
from harvester.retry import RetryPolicy, parse_retry_after

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# parse_retry_after ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("2.5", 2.5), ("120", 120.0), (" 7 ", 7.0), ("-3", 0.0)],
)
def test_retry_after_delta_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_is_seconds_from_now():
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)  # "Sat, 01 Mar 2025 12:01:30 GMT"
    assert parse_retry_after(header, now=NOW) == 90.0


def test_retry_after_http_date_in_the_past_is_zero():
    header = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(header, now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Fri, 99 Foo 2025", "1e"])
def test_retry_after_garbage_is_none(value):
    assert parse_retry_after(value) is None


# RetryPolicy.wait ----------------------------------------------------------------


def test_wait_honours_retry_after():
    assert RetryPolicy().wait(1, 4.0) == 4.0
    assert RetryPolicy().wait(5, 4.0) == 4.0, "the server's wait wins over the backoff schedule"


def test_wait_floors_retry_after_zero_at_min_wait():
    """`Retry-After: 0` must not become a busy loop."""
    assert RetryPolicy(min_wait=0.25).wait(1, 0.0) == 0.25


def test_wait_caps_retry_after_at_max_retry_after():
    assert RetryPolicy(max_retry_after=60).wait(1, 3600.0) == 60.0


def test_wait_scale_zero_makes_every_wait_instant():
    policy = RetryPolicy(scale=0)
    assert policy.wait(1, 100.0) == 0
    assert policy.wait(10, None) == 0


@given(st.integers(1, 50), st.integers(0, 2**32))
def test_backoff_is_jittered_within_the_capped_exponential(attempt, seed):
    policy = RetryPolicy(base=0.5, cap=30.0, min_wait=0.1, rng=random.Random(seed))
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    wait = policy.wait(attempt, None)
    assert 0.1 <= wait <= max(0.1, ceiling)
    assert wait <= 30.0, "backoff is capped"


def test_backoff_with_a_seeded_rng_is_reproducible_and_spread():
    waits_a = [RetryPolicy(rng=random.Random(7)).wait(6, None) for _ in range(3)]
    waits_b = [RetryPolicy(rng=random.Random(7)).wait(6, None) for _ in range(3)]
    assert waits_a == waits_b
    policy = RetryPolicy(rng=random.Random(1))
    spread = {round(policy.wait(8, None), 6) for _ in range(50)}
    assert len(spread) > 10, "full jitter: waits are spread, not all the cap"
    assert max(spread) <= 30.0


# RetryPolicy.call ----------------------------------------------------------------


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.anyio
async def test_call_retries_transient_errors_then_succeeds():
    fn = Flaky(TransientError("boom"), TransientError("boom", retry_after=5.0))
    assert await RetryPolicy(max_retries=3, scale=0).call(fn, what="get_members") == "ok"
    assert fn.calls == 3


@pytest.mark.anyio
async def test_call_gives_up_after_max_retries_with_a_transient_error():
    fn = Flaky(*[TransientError("HTTP 503", action="get_members", status=503) for _ in range(10)])
    with pytest.raises(TransientError, match="gave up after 4 attempts") as info:
        await RetryPolicy(max_retries=3, scale=0).call(fn, what="get_members")
    assert fn.calls == 4, "one call plus max_retries retries"
    assert info.value.action == "get_members" and info.value.status == 503
    assert "HTTP 503" in str(info.value)
    assert isinstance(info.value.__cause__, TransientError)


@pytest.mark.anyio
async def test_call_with_zero_retries_tries_once():
    fn = Flaky(TransientError("x"), TransientError("x"))
    with pytest.raises(TransientError, match="gave up after 1 attempts"):
        await RetryPolicy(max_retries=0, scale=0).call(fn, what="a")
    assert fn.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [ActionError("refused"), WindowRefusedError("too wide"), AuthError("bad token"), ValueError("bug")],
    ids=lambda e: type(e).__name__,
)
async def test_call_does_not_retry_non_transient_errors(error):
    fn = Flaky(error)
    with pytest.raises(type(error)):
        await RetryPolicy(max_retries=5, scale=0).call(fn, what="a")
    assert fn.calls == 1
