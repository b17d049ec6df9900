"""Adaptive concurrency and request rate: use a server's rate limit to the full, unconfigured.

A fixed concurrency either leaves a rate limit unused or keeps hitting it: each 429
parks one worker while the others carry on and hit it again. Instead the gate here
learns the limit the way TCP learns a link (AIMD):

- **rate**: unpaced until the first 429; then requests are paced at a rate that is
  cut multiplicatively (x0.9) on every 429 and grows additively (by 2% of the rate
  at the first 429, per second) while calls succeed, never below half that rate (so
  429s that are noise, not a limit, cannot starve a run). With a token-bucket server
  the rate saws just above the limit and every token is used; a 429 is rare.
- **Retry-After** pauses *everyone* (no request leaves the gate until it is over),
  so the few requests already in flight are the only ones a 429 can hit.
- **concurrency**: a limit in [1, max_limit] that grows by one per round of
  successes while it is what holds requests back, and is cut on a 429 and when
  latency rises well above its floor (the server queues: more in flight only waits).
- `requests_per_second`, when set, is a ceiling the rate never passes (and the pace
  from the first request).

Only one signal per round counts: a 429 (or a slow reply) to a request sent before
the last cut of its kind says nothing new (it was sent under the old limits), so a
burst of 429s cuts once.

`AdaptiveLimit` holds the decisions and no clock: every method takes `now`, so it is
tested without sleeping. `AdaptiveGate` is the thin async part; `http.Gate` sends
every request of a run through one.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio

__all__ = ["AdaptiveGate", "AdaptiveLimit", "Ticket"]

_RATE_WINDOW = 1.0  # seconds of sends that estimate the rate at the first 429
_DEFAULT_PAUSE = 1.0  # a 429 without a usable Retry-After


@dataclass
class AdaptiveLimit:
    """The pure decision logic: when may the next request go, and how the limits move.

    `admit(now)` is 0 when a request may be sent now (and counts it in flight), else the
    seconds to wait (`math.inf`: until a request in flight finishes). Every admitted
    request ends in exactly one of `on_success`, `on_throttled` or `on_failure`.
    """

    max_limit: int = 64
    initial_limit: int = 8
    requests_per_second: float = 0.0  # a ceiling on the rate; 0 = none
    rate_backoff: float = 0.9  # rate x this on a 429
    limit_backoff: float = 0.75  # concurrency x this on a 429
    latency_backoff: float = 0.8  # concurrency x this when latency rises
    latency_tolerance: float = 3.0  # "well above its floor": smoothed latency > this x floor + slack
    latency_slack: float = 0.050  # seconds, so jitter (a busy client, a fast link) is not congestion
    rate_increase: float = 0.02  # per second, as a share of the rate at the first 429
    # The rate is never cut below this share of the rate at the first 429: a server that
    # answers 429 now and then (a flaky proxy, not a limit) cannot starve a run, while
    # its Retry-After pauses are still honoured.
    floor_share: float = 0.5
    # Pacing starts only once this many sends in the last second measure a rate: a 429
    # on a run's first calls says "wait", not "this is your rate".
    min_sends_to_pace: int = 8
    min_rate: float = 0.1
    max_pause: float = 300.0

    rate: float | None = field(init=False, default=None)  # requests/s; None = unpaced
    in_flight: int = field(init=False, default=0)
    paused_until: float = field(init=False, default=-math.inf)
    throttles: int = field(init=False, default=0)  # 429s seen
    cuts: int = field(init=False, default=0)  # of those, the ones that cut the limits
    _limit: float = field(init=False, default=1.0)
    _next_send: float = field(init=False, default=-math.inf)
    _last_cut: float = field(init=False, default=-math.inf)  # by a 429
    _last_latency_cut: float = field(init=False, default=-math.inf)
    _last_growth: float | None = field(init=False, default=None)
    _base_rate: float = field(init=False, default=0.0)
    _floor: float | None = field(init=False, default=None)
    _smoothed: float | None = field(init=False, default=None)
    _sends: deque[float] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        if self.max_limit < 1:
            raise ValueError(f"max_limit must be at least 1, got {self.max_limit}")
        if self.requests_per_second < 0:
            raise ValueError(f"requests_per_second must be >= 0, got {self.requests_per_second}")
        self._limit = float(min(max(1, self.initial_limit), self.max_limit))
        if self.requests_per_second:
            self.rate = self._base_rate = self.requests_per_second

    @property
    def limit(self) -> int:
        """Requests allowed in flight at once, in [1, max_limit]."""
        return max(1, min(self.max_limit, int(self._limit)))

    def admit(self, now: float) -> float:
        """0.0 and the request counts as sent; else seconds to wait before asking again."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.in_flight >= self.limit:
            return math.inf
        if self.rate is not None and now < self._next_send:
            return self._next_send - now
        self.in_flight += 1
        if self.rate is not None:
            self._next_send = max(self._next_send, now) + 1.0 / self.rate
        self._sends.append(now)
        while self._sends and self._sends[0] < now - _RATE_WINDOW:
            self._sends.popleft()
        return 0.0

    def on_success(self, latency: float, now: float, sent_at: float) -> None:
        """A reply that was not a throttle: grow, unless latency says the server queues."""
        was_full = self.in_flight >= self.limit
        self._finish()
        if self._congested(latency) and sent_at >= self._last_latency_cut:
            self._limit = max(1.0, self._limit * self.latency_backoff)
            self._last_latency_cut = now
        elif was_full:
            self._limit = min(float(self.max_limit), self._limit + 1.0 / self._limit)
        self._grow_rate(now)

    def on_throttled(self, retry_after: float | None, now: float, sent_at: float) -> None:
        """A 429: pause everyone for Retry-After, and cut the limits once per round."""
        self._finish()
        self.throttles += 1
        pause = _DEFAULT_PAUSE if retry_after is None else retry_after
        self.paused_until = max(self.paused_until, now + min(max(0.0, pause), self.max_pause))
        self._next_send = max(self._next_send, self.paused_until)
        if sent_at < self._last_cut:
            return  # sent at the old pace: this round was already cut
        self.cuts += 1
        self._last_cut = now
        self._limit = max(1.0, self._limit * self.limit_backoff)
        if self.rate is None and len(self._sends) < self.min_sends_to_pace:
            return  # too few recent sends to measure a rate (a 429 on the first calls): pause only
        current = self.rate if self.rate is not None else len(self._sends) / _RATE_WINDOW
        if self.rate is None:  # the first throttle sets the scale of growth and the floor
            self._base_rate = current * self.rate_backoff
        floor = self.floor_share * self._base_rate
        self.rate = self._clamp_rate(max(floor, current * self.rate_backoff))
        self._last_growth = None

    def on_failure(self, now: float) -> None:
        """Any other outcome (a reset, a 5xx, a timeout): says nothing about the limits."""
        self._finish()

    def _finish(self) -> None:
        if self.in_flight <= 0:
            raise RuntimeError("a request finished that was never admitted")
        self.in_flight -= 1

    def _congested(self, latency: float) -> bool:
        latency = max(0.0, latency)
        if self._floor is None or latency < self._floor:
            self._floor = latency
        else:  # drifts up very slowly, so a link that got slower for good is not "congested" forever
            self._floor += (latency - self._floor) * 0.001
        self._smoothed = latency if self._smoothed is None else 0.8 * self._smoothed + 0.2 * latency
        return self._smoothed > self.latency_tolerance * self._floor + self.latency_slack

    def _grow_rate(self, now: float) -> None:
        if self.rate is None:
            return
        if self._last_growth is not None and now > self._last_growth:
            step = self.rate_increase * self._base_rate * min(1.0, now - self._last_growth)
            self.rate = self._clamp_rate(self.rate + step)
        self._last_growth = now

    def _clamp_rate(self, rate: float) -> float:
        ceiling = self.requests_per_second or math.inf
        return min(ceiling, max(self.min_rate, rate))


class Ticket:
    """One admitted request. Call `throttled(retry_after)` when its reply was a 429 that
    did not raise; a raised error with `status == 429` (TransientError) counts too."""

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self.throttle: tuple[float | None] | None = None

    def throttled(self, retry_after: float | None) -> None:
        self.throttle = (retry_after,)


class AdaptiveGate:
    """The async side of `AdaptiveLimit`: `async with gate.slot() as ticket: <one request>`."""

    def __init__(self, control: AdaptiveLimit | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.control = control if control is not None else AdaptiveLimit()
        self._clock = clock
        self._changed: anyio.Event | None = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        ticket = Ticket(await self._admit())
        try:
            yield ticket
        except BaseException as exc:
            self._settle(ticket, _throttle_of(exc), failed=True)
            raise
        else:
            self._settle(ticket, ticket.throttle, failed=False)

    async def _admit(self) -> float:
        while True:
            now = self._clock()
            wait = self.control.admit(now)
            if wait == 0:
                return now
            if self._changed is None:
                self._changed = anyio.Event()
            changed = self._changed
            with anyio.move_on_after(None if math.isinf(wait) else wait):
                await changed.wait()

    def _settle(self, ticket: Ticket, throttle: tuple[float | None] | None, *, failed: bool) -> None:
        now = self._clock()
        if throttle is not None:
            self.control.on_throttled(throttle[0], now, ticket.sent_at)
        elif failed:
            self.control.on_failure(now)
        else:
            self.control.on_success(now - ticket.sent_at, now, ticket.sent_at)
        if self._changed is not None:  # wake the waiters: a slot freed, or the pace changed
            self._changed.set()
            self._changed = None


def _throttle_of(exc: BaseException) -> tuple[float | None] | None:
    if getattr(exc, "status", None) == 429:
        retry_after = getattr(exc, "retry_after", None)
        return (retry_after if isinstance(retry_after, int | float) else None,)
    return None
