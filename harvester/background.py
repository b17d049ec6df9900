"""Tasks that live exactly as long as a block of code: a progress ticker, a socket server.

anyio wraps an exception raised in a task group's body in an ExceptionGroup. A run's
errors (AuthError, a storage failure) must reach its callers as themselves, so the body
runs outside the group's reach: its exception is held while the background tasks are
cancelled, then raised unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

__all__ = ["background"]


@asynccontextmanager
async def background(before_cancel: Callable[[], None] | None = None) -> AsyncIterator[TaskGroup]:
    """A task group for the block's helpers: cancelled when the block ends (after
    `before_cancel`, e.g. to interrupt work in threads); the block's own exception
    comes out as itself."""
    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        try:
            yield tg
        except BaseException as exc:  # re-raised below, once the helpers are gone
            failure = exc
        finally:
            if before_cancel is not None:
                before_cancel()
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
