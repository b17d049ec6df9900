"""When to try a call again, and how long to wait first.

The wait is a pure function of the attempt number and the server's `Retry-After`, so
it is tested without sleeping. Only `TransientError` is retried: an auth failure or
an action error would fail the same way again.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import anyio
import structlog

from .errors import TransientError

__all__ = ["RetryPolicy", "parse_retry_after"]

T = TypeVar("T")
log = structlog.get_logger("harvester.retry")


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
    rng: random.Random = field(default_factory=random.Random)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry number `attempt` (1-based)."""
        if retry_after is not None:
            wait = max(self.min_wait, min(retry_after, self.max_retry_after))
        else:
            wait = max(self.min_wait, self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1))))
        return wait * self.scale

    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run `fn`, retrying TransientError up to `max_retries` times."""
        attempt = 0
        while True:
            try:
                return await fn()
            except TransientError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise TransientError(
                        f"{what}: gave up after {attempt} attempts: {exc}",
                        action=exc.action,
                        status=exc.status,
                    ) from exc
                delay = self.wait(attempt, exc.retry_after)
                log.warning("fetch.retry", action=what, attempt=attempt, wait=round(delay, 3), error=str(exc))
                await anyio.sleep(delay)
