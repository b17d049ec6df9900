"""One custom stream's chain of pages, each page one `custom` call.

The call goes through the Abstra API client (`execute` on the stream's connection,
the Abstra token), so retries, the run's gate, the redirect refusal and the reply cap
are the same as for the Manager's actions. What is particular to `custom` is how its
refusals read: this module turns them into errors that name the stream, and makes a
connection that cannot speak `custom` (a database or SOAP connector) or that does not
exist a configuration error, since every later call would fail the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...errors import ActionError, ExitCode, PagingError, ProtocolError
from ...pages import Reject, Row
from ...retry import RetryBudget
from ..abstra.client import AbstraClient, ConnectionNotFoundError
from .config import CustomStream
from .paging import paging_for
from .records import ReplyShapeError, format_window, page_records, record_row
from .request import build_parameters

__all__ = ["CustomPage", "UnusableConnectionError", "call_custom", "read_pages"]

_UNSUPPORTED = 'does not support the "custom" action'


class UnusableConnectionError(ActionError):
    """The connection is unknown or cannot make `custom` calls: fix the config (exit 2)."""

    exit_code = ExitCode.CONFIG


@dataclass(frozen=True)
class CustomPage:
    """One reply's rows and rejects, and where the chain stands after it."""

    rows: list[Row]
    rejects: list[Reject]
    checkpoint: tuple[str | None, int]
    done: bool


async def call_custom(
    client: AbstraClient, connection: str, parameters: Mapping[str, Any], who: str, budget: RetryBudget | None = None
) -> Any:
    """One `custom` call; its `data`, or an error whose one line starts with `who`."""
    try:
        return await client.execute("custom", parameters, connection=connection, budget=budget)
    except ConnectionNotFoundError:
        raise UnusableConnectionError(
            f"{who}: the API has no connection {connection!r}: check the connection's name", action="custom"
        ) from None
    except ActionError as exc:
        if _UNSUPPORTED in str(exc):
            raise UnusableConnectionError(
                f"{who}: {exc} (connection {connection!r} is not an HTTP connector: use one that is)",
                action="custom", status=exc.status,
            ) from None
        raise ActionError(f"{who}: {exc}", action="custom", status=exc.status) from None


async def read_pages(
    client: AbstraClient,
    stream: CustomStream,
    page_size: int,
    resume: tuple[str | None, int] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> AsyncIterator[CustomPage]:
    """The pages of `stream` (within `window`, when given) from `resume` to the end.

    A page whose paging fails (a loop, a `next_url` off the stream's host) is still
    yielded, with the checkpoint from before it, and then the error is raised: its
    records are stored, and the next run starts that page again."""
    who = f"[[custom]] {stream.name}"
    paging = paging_for(stream, resume, page_size)
    bounds = _window_params(stream, window)
    budget = client.retry_budget()
    while not paging.done:
        parameters = build_parameters(stream, paging.params(), bounds)
        reply = await call_custom(client, stream.connection, parameters, who, budget)
        try:
            records = page_records(reply, stream.records)
        except ReplyShapeError as exc:
            raise ProtocolError(f"{who}: {exc}", action="custom") from None
        before = paging.checkpoint()
        rows, rejects = _rows(records, stream)
        try:
            paging.advance(len(records), reply)
        except PagingError as exc:
            yield CustomPage(rows, rejects, before, False)
            raise PagingError(f"{who}: {exc}", action="custom") from None
        yield CustomPage(rows, rejects, paging.checkpoint(), paging.done)


def _window_params(stream: CustomStream, window: tuple[datetime, datetime] | None) -> dict[str, Any] | None:
    if window is None or stream.window is None:
        return None
    spec = stream.window
    return {spec.from_: format_window(window[0], spec.format), spec.to: format_window(window[1], spec.format)}


def _rows(records: list[Any], stream: CustomStream) -> tuple[list[Row], list[Reject]]:
    rows: list[Row] = []
    rejects: list[Reject] = []
    for record in records:
        built = record_row(record, stream)
        (rejects if isinstance(built, Reject) else rows).append(built)
    return rows, rejects
