"""The automations API (seed 001) as a source. Every table is read whole (no windows):

    automations                   listed every run, per workspace, `show_deleted=true`
                                  (a snapshot: one that vanishes gets `removed_at`)
    automation_revisions          \\
    automation_default_inputs      |  re-read only for automations whose `update_time`
    automation_schedules           |  moved since the last complete read (all of them on
    automation_triggers           /   the first run and with `run --full`)

One job per re-read automation reads its four children in turn; its last write
carries a mark (`automations/<id>` → the `update_time` read), committed with it, so
an automation whose children were not all stored is read again next run. Only GET is
ever sent: nothing here can invoke, create, change or delete anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...config import Settings
from ...errors import ProtocolError
from ...http import Gate, NotFoundError, segment
from ...pages import PageWrite, SnapshotWrite
from ...paging import CursorPaging
from ...retry import RetryBudget
from ...timeutil import format_wire
from ..base import Discovery, Job, Notable, ReadWhole, RunContext, Stream, Write
from ..rest import RestSource
from .incremental import automations_to_reread
from .records import (
    Built,
    ListReplyError,
    PathScope,
    automation_rows,
    default_input_rows,
    list_items,
    revision_rows,
    schedule_rows,
    trigger_rows,
)
from .tables import (
    AUTOMATION_DEFAULT_INPUTS,
    AUTOMATION_REVISIONS,
    AUTOMATION_SCHEDULES,
    AUTOMATION_TRIGGERS,
    AUTOMATIONS,
    TABLES,
)

__all__ = ["AutomationsSource"]

TOKEN_ENV = "AUTOMATIONS_API_TOKEN"
_MARK = "automations/"
_CHILDREN = (AUTOMATION_REVISIONS, AUTOMATION_DEFAULT_INPUTS, AUTOMATION_SCHEDULES, AUTOMATION_TRIGGERS)


def _stream(name: str) -> Stream:
    return Stream(name, (name,), windowed=False)


class AutomationsSource(RestSource, ReadWhole):
    name = "automations"
    tables = TABLES
    streams = tuple(_stream(t.name) for t in TABLES)
    notable = (
        Notable("automations_published", AUTOMATIONS.name, "publish_time IS NOT NULL", "last_seen_at",
                ("id", "workspace_id", "display_name", "publish_time", "publish_user_id", "latest_published_version")),
        Notable("automations_deleted", AUTOMATIONS.name, "delete_time IS NOT NULL OR removed_at IS NOT NULL",
                "last_seen_at", ("id", "workspace_id", "display_name", "delete_time", "removed_at")),
    )

    token_env = TOKEN_ENV

    def __init__(self, settings: Settings, gate: Gate | None = None) -> None:
        assert settings.automations is not None
        super().__init__(settings, settings.automations, gate)
        self._api = settings.automations

    async def discover(self, ctx: RunContext, streams: Sequence[Stream]) -> Discovery:
        """List every workspace's automations (always: the children depend on it), then
        plan one job per automation whose children must be read again."""
        names = {s.name for s in streams}
        listings = {ws: await self._list_workspace(ws) for ws in self._api.workspaces}
        jobs = [self._listing_job(ws, built, ctx.now) for ws, built in listings.items()] if AUTOMATIONS.name in names else []
        listed = {row["id"]: row.get("update_time") for b in listings.values() for row in b.rows}
        where = {row["id"]: row["workspace_id"] for b in listings.values() for row in b.rows}
        children = [t for t in _CHILDREN if t.name in names]
        if children:
            previous = await self._marks(ctx)
            for aid in automations_to_reread(listed, previous, full=ctx.full):
                jobs.append(self._children_job(aid, where[aid], listed[aid], children, ctx.now))
        retire = [(t.name, set(listed)) for t in (AUTOMATION_SCHEDULES, AUTOMATION_TRIGGERS) if t in children]
        return Discovery(scopes=None, jobs=jobs, retire=retire)

    # ---- listing ---------------------------------------------------------------

    def _base(self, workspace: str) -> str:
        org = segment(self._api.organization_id)
        return f"/api/v1/organizations/{org}/workspaces/{segment(workspace)}/automations"

    async def _list_workspace(self, workspace: str) -> Built:
        scope = PathScope(self._api.organization_id, workspace)
        built = Built()
        async for items in self._list(self._base(workspace), {"show_deleted": True}, f"automations of {workspace}"):
            page = automation_rows(items, scope)
            built.rows.extend(page.rows)
            built.rejects.extend(page.rejects)
        return built

    async def _list(
        self, path: str, query: Mapping[str, Any], what: str, budget: RetryBudget | None = None
    ) -> AsyncIterator[list[Any]]:
        """Every page of an AIP List call (`page_size`/`page_token`), as item lists.

        The token loop and its guards (a token that repeats, empty pages that never
        end) are the cursor chain's (`CursorPaging`)."""
        paging = CursorPaging()
        while not paging.done:
            params = {**query, "page_size": self._api.page_size, "page_token": paging.cursor}
            reply = await self.client.get(path, params, what=what, budget=budget)
            try:
                items, token = list_items(reply)
            except ListReplyError as exc:
                raise ProtocolError(f"{what}: {exc}") from None
            paging.advance(len(items), token)
            yield items

    def _listing_job(self, workspace: str, built: Built, now: datetime) -> Job:
        async def writes() -> AsyncIterator[Write]:
            yield SnapshotWrite(AUTOMATIONS.name, workspace, built.rows, now, built.rejects)

        return Job(AUTOMATIONS.name, f"automations workspace={workspace}", writes)

    async def _marks(self, ctx: RunContext) -> dict[str, datetime | None]:
        rows = await ctx.read("SELECT key, value FROM _marks WHERE starts_with(key, $prefix)", {"prefix": _MARK})
        return {key[len(_MARK) :]: datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None for key, v in rows}

    # ---- one automation's children ---------------------------------------------

    def _children_job(
        self, aid: str, workspace: str, update_time: datetime | None, children: Sequence[Any], now: datetime
    ) -> Job:
        """Revisions, default inputs, schedule, triggers of one automation, in that order;
        the mark rides on the last write, and only when all four were read."""
        scope = PathScope(self._api.organization_id, workspace, aid)
        base = f"{self._base(workspace)}/{segment(aid)}"
        complete = len(children) == len(_CHILDREN)
        mark = ((f"{_MARK}{aid}", format_wire(update_time) if update_time else ""),) if complete else ()

        async def writes() -> AsyncIterator[Write]:
            budget = self.client.retry_budget()
            if AUTOMATION_REVISIONS in children:
                async for items in self._list(f"{base}/revisions", {}, f"revisions of {aid}", budget):
                    yield _page(AUTOMATION_REVISIONS.name, revision_rows(items, scope))
            if AUTOMATION_DEFAULT_INPUTS in children:
                path = f"{base}:listDefaultInputsHistory"
                async for items in self._list(path, {}, f"default inputs of {aid}", budget):
                    yield _page(AUTOMATION_DEFAULT_INPUTS.name, default_input_rows(items, scope))
            if AUTOMATION_SCHEDULES in children:
                built = await self._schedule(base, scope, aid, budget)
                last = AUTOMATION_TRIGGERS not in children
                yield SnapshotWrite(AUTOMATION_SCHEDULES.name, aid, built.rows, now, built.rejects, mark if last else ())
            if AUTOMATION_TRIGGERS in children:
                built = Built()
                async for items in self._list(f"{base}/triggers", {}, f"triggers of {aid}", budget):
                    page = trigger_rows(items, scope)
                    built.rows.extend(page.rows)
                    built.rejects.extend(page.rejects)
                yield SnapshotWrite(AUTOMATION_TRIGGERS.name, aid, built.rows, now, built.rejects, mark)

        return Job(children[0].name, f"automation {aid}", writes)

    async def _schedule(self, base: str, scope: PathScope, aid: str, budget: RetryBudget) -> Built:
        """The automation's schedule; a 404 means it has none (an empty snapshot)."""
        try:
            reply = await self.client.get(f"{base}/schedule", what=f"schedule of {aid}", budget=budget)
        except NotFoundError:
            return schedule_rows(None, scope, status=404)
        return schedule_rows(reply, scope)


def _page(table: str, built: Built) -> PageWrite:
    """A page of immutable entries of a stream read whole: no partition, no checkpoint."""
    return PageWrite(None, table, built.rows, None, built.rejects)
