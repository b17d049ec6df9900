"""A plain aiohttp client for the simulator, as any caller of the API would write it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from harvester.simulator import ROUTE, SimConfig
from harvester.timeutil import format_wire

__all__ = ["TOKEN", "call", "day", "page_all", "small_config", "url_for", "window"]

TOKEN = "sim-token"


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def url_for(endpoint: str, connection: str = "abstra-manager") -> str:
    return endpoint + ROUTE.format(connection=connection)


async def call(
    session: aiohttp.ClientSession,
    endpoint: str,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    token: str | None = TOKEN,
    connection: str = "abstra-manager",
) -> tuple[int, Any]:
    """(HTTP status, decoded body) of one `execute` call."""
    body: dict[str, Any] = {"connectionName": connection, "actionName": action}
    if params is not None:
        body["parameters"] = params
    headers = {"Api-Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.post(url_for(endpoint, connection), data=orjson.dumps(body), headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def page_all(
    session: aiohttp.ClientSession, endpoint: str, action: str, params: dict[str, Any], max_pages: int = 10_000
) -> tuple[list[Any], int]:
    """Follow nextCursor to the end; returns (entries, pages)."""
    entries: list[Any] = []
    cursor = None
    for pages in range(1, max_pages + 1):
        page_params = {**params, **({"cursor": cursor} if cursor else {})}
        status, body = await call(session, endpoint, action, page_params)
        assert status == 200 and body["status"] == "success", body
        entries += body["data"]["entries"]
        cursor = body["data"]["nextCursor"]
        if cursor is None:
            return entries, pages
    raise AssertionError("paging did not end")


def window(start: datetime, days: int) -> dict[str, str]:
    """`from`/`to` parameters spanning `days` from `start`."""
    return {"from": format_wire(start), "to": format_wire(start + timedelta(days=days))}


def small_config(**overrides: Any) -> SimConfig:
    """A quick organization: 30 days of history ending 2025-06-01."""
    fields: dict[str, Any] = {"start": day("2025-05-02"), "end": day("2025-06-01"), "projects": 5}
    return SimConfig(**{**fields, **overrides})
