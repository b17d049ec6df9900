"""When to try a call again, and how long to wait first.

The wait is a pure function of the attempt number and the server's `Retry-After`, so
it is tested without sleeping. Only `TransientError` is retried: an auth failure or
an action error would fail the same way again.

Retries are bounded twice: by count (`max_retries` per call) and by time (a
`RetryBudget` of seconds shared by every call of one partition, spent on failed
attempts and the waits between them), so a server that fails slowly on every
attempt cannot hold a cron run for hours.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import anyio
import structlog

from .errors import TransientError

__all__ = ["RetryBudget", "RetryPolicy", "counting_retries", "parse_retry_after"]

T = TypeVar("T")
log = structlog.get_logger("harvester.retry")
_on_retry: ContextVar[Callable[[], None] | None] = ContextVar("harvester_on_retry", default=None)


@contextmanager
def counting_retries(on_retry: Callable[[], None]) -> Iterator[None]:
    """Call `on_retry` for each retry made by this task (and tasks it starts) inside the block."""
    token = _on_retry.set(on_retry)
    try:
        yield
    finally:
        _on_retry.reset(token)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds (`0` included) or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RetryBudget:
    """Seconds one partition (or snapshot) may still spend on failures. Not shared
    between partitions: each job makes its own."""

    seconds: float
    spent: float = 0.0

    def allows(self, more: float) -> bool:
        return self.spent + more <= self.seconds


@dataclass
class RetryPolicy:
    """Capped exponential backoff with full jitter, honouring Retry-After.

    `min_wait` keeps a `Retry-After: 0` from becoming a busy loop; `max_retry_after`
    bounds how long we let a server park us. `scale=0` makes every wait instant, for
    tests that only count attempts.
    """

    max_retries: int = 6
    base: float = 0.5
    cap: float = 30.0
    min_wait: float = 0.1
    max_retry_after: float = 300.0
    scale: float = 1.0
    budget_seconds: float = 900.0
    rng: random.Random = field(default_factory=random.Random)

    def budget(self) -> RetryBudget:
        """A fresh budget for one partition's calls."""
        return RetryBudget(self.budget_seconds)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry number `attempt` (1-based)."""
        if retry_after is not None:
            wait = max(self.min_wait, min(retry_after, self.max_retry_after))
        else:
            wait = max(self.min_wait, self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1))))
        return wait * self.scale

    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str, budget: RetryBudget | None = None) -> T:
        """Run `fn`, retrying TransientError up to `max_retries` times while `budget`
        (a fresh one when None) has time left for the failed attempt and the wait."""
        budget = budget if budget is not None else self.budget()
        attempt = 0
        while True:
            began = anyio.current_time()
            try:
                return await fn()
            except TransientError as exc:
                attempt += 1
                budget.spent += anyio.current_time() - began
                delay = self.wait(attempt, exc.retry_after)
                if attempt > self.max_retries or not budget.allows(delay):
                    limit = "" if attempt > self.max_retries else f" (retry budget of {budget.seconds:g} s spent)"
                    raise TransientError(
                        f"{what}: gave up after {attempt} attempts{limit}: {exc}",
                        action=exc.action,
                        status=exc.status,
                    ) from exc
                budget.spent += delay
                if (on_retry := _on_retry.get()) is not None:
                    on_retry()
                log.warning("fetch.retry", action=what, attempt=attempt, wait=round(delay, 3), error=str(exc))
                await anyio.sleep(delay)
