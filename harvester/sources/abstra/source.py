"""The Abstra Manager API as a source: `get_organization` first, then logs,
executions and consumption by window, and the inventory as snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...config import Settings
from ...http import Gate
from ...pages import Checkpoint, PageWrite, SnapshotWrite
from ...planner import Partition
from ..base import Discovery, Job, Notable, PlanRequest, RunContext, Stream, Write
from ..lazy import LazyClient
from .client import AbstraClient
from .fetch import Organization, fetch_organization, fetch_partition, fetch_snapshot
from .plan import plan_backfill, plan_incremental
from .streams import ALL_STREAMS, TABLES, Scope

__all__ = ["AbstraSource"]


class AbstraSource(LazyClient[AbstraClient]):
    """One organization behind one connection of the Abstra Manager connector."""

    name = "abstra"
    tables = tuple(TABLES.values())
    streams = tuple(s.spec() for s in ALL_STREAMS.values())
    notable = (
        Notable("failed_logins", "auth_attempt_logs", "status IS DISTINCT FROM 'success'",
                columns=("created_at", "email", "status", "project_id")),
        Notable("errored_connector_actions", "connector_action_logs", "errored",
                columns=("created_at", "project_id", "author_id", "event", "source")),
        Notable("errored_ai_prompts", "ai_prompt_logs", "errored",
                columns=("created_at", "project_id", "author_id", "source")),
        Notable("failed_executions", "executions", "lower(status) SIMILAR TO '.*(fail|error).*'",
                columns=("created_at", "project_id", "status", "stage_name", "id")),
        Notable("members_added", "members", "true", "first_seen_at", ("id", "email", "first_seen_at")),
        Notable("members_removed", "members", "removed_at IS NOT NULL", "removed_at", ("id", "email", "removed_at")),
    )

    def __init__(self, settings: Settings, client: AbstraClient | None = None, *, gate: Gate | None = None) -> None:
        super().__init__(settings, gate, client)

    def _make_client(self) -> AbstraClient:
        return AbstraClient.from_settings(self._settings, gate=self._gate)

    async def discover(self, ctx: RunContext, streams: Sequence[Stream]) -> Discovery:
        """The organization's projects (always: windowed project streams need them),
        the snapshot reads of the chosen streams, and which per-project tables to
        retire for projects that left the organization."""
        chosen = [ALL_STREAMS[s.name] for s in streams]
        org = await fetch_organization(self.client, ctx.now)
        retire = [
            (s.tables[0], set(org.project_ids)) for s in chosen if s.scope is Scope.SNAPSHOT_PROJECT
        ]
        return Discovery(org.project_ids, list(self._snapshot_jobs(chosen, org, ctx.now)), retire)

    def plan(
        self,
        scopes: Any,
        streams: Sequence[Stream],
        request: PlanRequest,
        covered: Mapping[tuple[str, str], datetime],
    ) -> list[Partition]:
        h = self._settings.harvest
        windowed = [ALL_STREAMS[s.name] for s in streams if s.windowed]
        sizes = {"slice_days": h.slice_days, "consumption_days": h.consumption_period_days}
        if request.start is not None and request.end is not None:
            return plan_backfill(windowed, request.start, request.end, scopes, **sizes)
        return plan_incremental(
            windowed,
            scopes,
            dict(covered),
            default_start=request.default_start,
            now=request.now,
            lookback=request.lookback,
            **sizes,
        )

    def pages(self, partition: Partition, checkpoint: Checkpoint) -> AsyncIterator[PageWrite]:
        return fetch_partition(self.client, partition, checkpoint, page_size=self._settings.harvest.page_size)

    def _snapshot_jobs(self, streams: Sequence[Any], org: Organization, now: datetime) -> Iterator[Job]:
        for stream in streams:
            if stream.name == "organization":
                yield Job(stream.name, "organization", lambda: _each(org.writes))
            elif stream.scope is Scope.SNAPSHOT_ORG:
                yield self._snapshot_job(stream.name, None, now)
            elif stream.scope is Scope.SNAPSHOT_PROJECT:
                for pid in org.project_ids:
                    yield self._snapshot_job(stream.name, pid, now)

    def _snapshot_job(self, stream: str, project_id: str | None, now: datetime) -> Job:
        client = self.client

        async def writes() -> AsyncIterator[Write]:
            yield await fetch_snapshot(client, stream, project_id, now)

        return Job(stream, stream if project_id is None else f"{stream} project={project_id}", writes)


async def _each(writes: Sequence[SnapshotWrite]) -> AsyncIterator[Write]:
    for write in writes:
        yield write
