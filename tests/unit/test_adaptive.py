"""The adaptive limit's decisions (`harvester.adaptive.AdaptiveLimit`), on a virtual clock.

No test sleeps: every method takes `now`. The last test runs the controller against a
token bucket written out below (R tokens/s, R of burst, 429 + Retry-After beyond it,
like the simulator's `rate_limit_rps`), in virtual time, and checks what it achieves.
"""

from __future__ import annotations

import heapq
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.adaptive import AdaptiveLimit

MAX = 16

# one event: ("send", dt) | ("ok", dt, latency) | ("429", dt, retry_after) | ("fail", dt)
events = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.floats(0, 2)),
        st.tuples(st.just("ok"), st.floats(0, 2), st.floats(0, 5)),
        st.tuples(st.just("429"), st.floats(0, 2), st.one_of(st.none(), st.floats(0, 10))),
        st.tuples(st.just("fail"), st.floats(0, 2)),
    ),
    max_size=200,
)


def _play(control: AdaptiveLimit, script: list[tuple]) -> list[tuple[int, float | None]]:
    """Feed events; ends only requests that were admitted. Returns (limit, rate) after each."""
    now, sent, seen = 0.0, [], []
    for kind, dt, *rest in script:
        now += dt
        if kind == "send":
            if control.admit(now) == 0:
                sent.append(now)
        elif sent:
            at = sent.pop(0)
            if kind == "ok":
                control.on_success(rest[0], now, at)
            elif kind == "429":
                control.on_throttled(rest[0], now, at)
            else:
                control.on_failure(now)
        seen.append((control.limit, control.rate))
    return seen


@given(events, st.floats(0, 100))
def test_limit_stays_between_one_and_max_and_rate_under_its_ceiling(script, ceiling):
    control = AdaptiveLimit(max_limit=MAX, initial_limit=4, requests_per_second=ceiling)
    for limit, rate in _play(control, script):
        assert 1 <= limit <= MAX
        if rate is not None:
            assert min(control.min_rate, ceiling or math.inf) <= rate <= (ceiling or math.inf)
    assert 0 <= control.in_flight <= MAX


@given(st.integers(2, MAX), st.floats(0.01, 30))
def test_a_429_cuts_concurrency_and_sets_a_rate_and_pauses_everyone(initial, retry_after):
    control = AdaptiveLimit(max_limit=MAX, initial_limit=initial, min_sends_to_pace=2)
    assert control.admit(0.0) == 0 and control.admit(0.0) == 0
    control.on_throttled(retry_after, 0.05, 0.0)
    assert control.limit < initial
    assert control.rate is not None and control.rate > 0
    assert control.admit(0.05) == pytest.approx(retry_after)  # nobody goes before Retry-After is over
    assert control.admit(0.05 + retry_after / 2) > 0


def test_a_429_on_the_first_calls_pauses_but_does_not_pace():
    """Two sends measure no rate: pacing at "2 per second" would starve the whole run."""
    control = AdaptiveLimit(initial_limit=8)
    control.admit(0.0), control.admit(0.0)
    control.on_throttled(1.0, 0.1, 0.0)
    assert control.rate is None and control.admit(0.5) > 0 and control.admit(1.2) == 0


def test_repeated_429s_never_cut_the_rate_below_half_the_first_one():
    control = AdaptiveLimit(initial_limit=64, max_limit=64, min_sends_to_pace=2)
    now = 0.0
    for _ in range(20):
        control.admit(now)
    control.on_throttled(0.0, now, now)
    first = control.rate
    assert first is not None
    for _ in range(50):
        now += 1.0
        while control.admit(now) == 0:
            pass
        control.on_throttled(0.0, now, now)
    assert control.rate >= 0.5 * first - 1e-9


def test_a_429_without_retry_after_still_pauses():
    control = AdaptiveLimit()
    control.admit(0.0)
    control.on_throttled(None, 0.0, 0.0)
    assert control.admit(0.5) > 0


def test_retry_after_is_capped():
    control = AdaptiveLimit(max_pause=60)
    control.admit(0.0)
    control.on_throttled(86_400, 0.0, 0.0)
    assert control.admit(0.0) == 60


def test_429s_to_requests_sent_before_a_cut_cut_once():
    """A burst of 429s answers requests sent at the old pace: one cut, not one per reply."""
    control = AdaptiveLimit(max_limit=MAX, initial_limit=8)
    for _ in range(8):
        assert control.admit(0.0) == 0
    for i in range(8):
        control.on_throttled(1.0, 0.01 * (i + 1), 0.0)
    assert control.cuts == 1 and control.throttles == 8
    assert control.limit == 6  # 8 x 0.75, once


def test_each_429_after_a_cut_lowers_the_rate_again():
    control = AdaptiveLimit(requests_per_second=100)
    rates = []
    now = 0.0
    for _ in range(5):
        while (wait := control.admit(now)) > 0:
            now += wait
        control.on_throttled(0.0, now, now)
        rates.append(control.rate)
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 5


@given(st.integers(2, MAX))
def test_concurrency_recovers_after_a_429_while_it_holds_requests_back(initial):
    control = AdaptiveLimit(max_limit=MAX, initial_limit=initial, requests_per_second=1000)
    control.admit(0.0)
    control.on_throttled(0.0, 0.0, 0.0)
    assert control.limit < initial
    now, sent = 0.0, []
    for _ in range(5000):  # more work than the limit lets through; replies take 20 ms
        while (wait := control.admit(now)) == 0:
            sent.append(now)
        now += min(wait, 0.001)
        while sent and sent[0] <= now - 0.02:
            control.on_success(now - sent[0], now, sent.pop(0))
    assert control.limit >= initial


def test_the_rate_recovers_additively_after_a_429():
    control = AdaptiveLimit(requests_per_second=0)
    for t in range(50):  # 50 requests in the last second: the rate seen at the 429
        control.admit(t / 50)
        control.on_success(0.02, t / 50, t / 50)
    control.admit(1.0)
    control.on_throttled(0.0, 1.0, 1.0)
    cut = control.rate
    assert cut == pytest.approx(0.9 * 51, rel=0.05)
    now = 1.0
    for _ in range(2000):
        now += 0.05
        control.admit(now)
        control.on_success(0.02, now, now)
    assert control.rate is not None and control.rate > cut / 0.9  # back above where it was throttled


def test_latency_well_above_its_floor_cuts_concurrency():
    control = AdaptiveLimit(max_limit=MAX, initial_limit=8)
    now = 0.0
    for _ in range(20):
        control.admit(now)
        control.on_success(0.020, now + 0.02, now)
        now += 0.02
    assert control.limit == 8
    for _ in range(20):  # the server starts queueing: 200 ms instead of 20
        control.admit(now)
        control.on_success(0.200, now + 0.2, now)
        now += 0.2
    assert control.limit < 8


def test_requests_per_second_paces_from_the_first_request():
    control = AdaptiveLimit(requests_per_second=10, max_limit=MAX)
    assert control.admit(0.0) == 0
    assert control.admit(0.0) == pytest.approx(0.1)
    assert control.admit(0.1) == 0


def test_a_full_limit_waits_for_a_reply():
    control = AdaptiveLimit(max_limit=2, initial_limit=2)
    assert control.admit(0.0) == 0 and control.admit(0.0) == 0
    assert control.admit(0.0) == math.inf
    control.on_failure(0.1)
    assert control.admit(0.1) == 0


def test_finishing_a_request_never_admitted_is_an_error():
    with pytest.raises(RuntimeError, match="never admitted"):
        AdaptiveLimit().on_failure(0.0)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_limit", 0, "max_limit must be at least 1"),
    ("requests_per_second", -1, "requests_per_second must be >= 0"),
])
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveLimit(**{field: value})


# against a token bucket, in virtual time ------------------------------------------


class _Bucket:
    """R tokens a second, a burst of R; the seconds until a token when there is none."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, 0.0

    def take(self, now: float) -> float:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@pytest.mark.parametrize(("rate", "latency"), [(20, 0.02), (60, 0.02), (60, 0.1), (200, 0.005), (200, 0.1)])
def test_against_a_token_bucket_it_uses_the_limit_with_few_429s(rate, latency):
    """64 workers, each sending its next request as soon as the limit admits it; the
    bucket answers 429 + Retry-After ceil(wait) (at least 1 s) like the simulator.
    Over a virtual minute: >= 90% of the bucket's rate succeeds, <= 3% of calls get 429."""
    control, bucket = AdaptiveLimit(), _Bucket(rate)
    replies: list[tuple[float, int, float, float | None]] = []  # heap: (reply at, n, sent at, retry_after if 429)
    now, ok, throttled, idle, wake = 0.0, 0, 0, 64, 0.0
    while now < 60.0:
        while replies and replies[0][0] <= now:
            _, _, sent_at, retry_after = heapq.heappop(replies)
            idle += 1
            if retry_after is None:
                ok += 1
                control.on_success(now - sent_at, now, sent_at)
            else:
                throttled += 1
                control.on_throttled(retry_after, now, sent_at)
        while idle and (wait := control.admit(now)) == 0:
            idle -= 1
            token_wait = bucket.take(now)
            retry_after = max(1.0, math.ceil(token_wait)) if token_wait else None
            heapq.heappush(replies, (now + latency, ok + throttled + len(replies), now, retry_after))
        wake = now + wait if idle and not math.isinf(wait) else math.inf
        now = min(wake, replies[0][0] if replies else math.inf)
    assert ok >= 0.9 * rate * 60
    assert throttled <= 0.03 * (ok + throttled)
