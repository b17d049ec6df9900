"""A plain aiohttp client for the automations simulator, as any caller of the API would
write it, and a whole read of it turned into rows (what the source will do)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from harvester.sources.automations.records import (
    Built,
    PathScope,
    automation_id_of,
    automation_rows,
    default_input_rows,
    list_items,
    revision_rows,
    schedule_rows,
    trigger_rows,
)
from harvester.sources.automations.sim_config import AutomationsSimConfig

__all__ = ["TOKEN", "get", "read_all", "read_everything", "small_config", "workspace_url"]

TOKEN = "sim-token"


def small_config(**overrides: Any) -> AutomationsSimConfig:
    """Two workspaces of 12 automations: every kind of object, quick to read whole."""
    return AutomationsSimConfig(**{"automations_per_workspace": 12, **overrides})


def workspace_url(endpoint: str, workspace: str = "ws-1", org: str = "org-1") -> str:
    return f"{endpoint}/api/v1/organizations/{org}/workspaces/{workspace}/automations"


async def get(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None, *, token: str | None = TOKEN
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of one GET."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.get(url, params=params or {}, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def read_all(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None, max_pages: int = 1000
) -> tuple[list[Any], int]:
    """Follow next_page_token to the end: (items, pages)."""
    items: list[Any] = []
    token: str | None = None
    for pages in range(1, max_pages + 1):
        status, body = await get(session, url, {**(params or {}), **({"page_token": token} if token else {})})
        assert status == 200, body
        page, token = list_items(body)
        items += page
        if token is None:
            return items, pages
    raise AssertionError("paging did not end")


def _merge(into: dict[str, Built], table: str, built: Built) -> None:
    assert built.rejects == [], built.rejects
    into.setdefault(table, Built()).rows.extend(built.rows)


async def read_everything(
    session: aiohttp.ClientSession, endpoint: str, workspaces: list[str], page_size: int = 7
) -> dict[str, Built]:
    """Every table's rows from a full read: list automations (show_deleted), then each one's children."""
    out: dict[str, Built] = {}
    size = {"page_size": str(page_size)}
    for ws in workspaces:
        base = workspace_url(endpoint, ws)
        listed, _ = await read_all(session, base, {"show_deleted": "true", **size})
        _merge(out, "automations", automation_rows(listed, PathScope("org-1", ws)))
        for entry in listed:
            aid = automation_id_of(entry)
            assert aid is not None
            scope = PathScope("org-1", ws, aid)
            revisions, _ = await read_all(session, f"{base}/{aid}/revisions", size)
            _merge(out, "automation_revisions", revision_rows(revisions, scope))
            status, schedule = await get(session, f"{base}/{aid}/schedule")
            _merge(out, "automation_schedules", schedule_rows(schedule, scope, status=status))
            triggers, _ = await read_all(session, f"{base}/{aid}/triggers", size)
            _merge(out, "automation_triggers", trigger_rows(triggers, scope))
            inputs, _ = await read_all(session, f"{base}/{aid}:listDefaultInputsHistory", size)
            _merge(out, "automation_default_inputs", default_input_rows(inputs, scope))
    return out
