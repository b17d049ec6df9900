"""The flow-monitoring API (seed 003) as a source.

    flow_execution_counts   windowed: one call per (UTC day, grouping), both ends of the
                            request on that day; the newest reply replaces the group
    flow_logs               read whole every run, per tenant (plain, then showErrors=true);
                            entries are kept once, `is_error` when the errors read has them

Only GET is ever sent (the client cannot do anything else); the token goes in
`Authorization: Bearer`, from FLOWS_API_TOKEN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...config import Settings
from ...errors import ProtocolError
from ...http import Gate
from ...pages import Checkpoint, PageWrite, Reject
from ...planner import Partition, day_slices, restart
from ...records import raw_text
from ..base import Discovery, Job, Notable, PlanRequest, RunContext, Stream, Write
from ..rest import RestSource
from .records import count_table_rows, log_entries, log_row, merge_error_reads
from .tables import FLOW_EXECUTION_COUNTS, FLOW_LOGS, TABLES

__all__ = ["FlowsSource"]

TOKEN_ENV = "FLOWS_API_TOKEN"
COUNTS = Stream(FLOW_EXECUTION_COUNTS.name, (FLOW_EXECUTION_COUNTS.name,), windowed=True)
LOGS = Stream(FLOW_LOGS.name, (FLOW_LOGS.name,), windowed=False)


class FlowsSource(RestSource):
    name = "flows"
    tables = tuple(TABLES.values())
    streams = (COUNTS, LOGS)
    notable = (
        Notable("flow_error_logs", FLOW_LOGS.name, "is_error", columns=("created_at", "tenant", "flow_id", "step_id", "id")),
    )

    token_env = TOKEN_ENV

    def __init__(self, settings: Settings, gate: Gate | None = None) -> None:
        assert settings.flows is not None
        super().__init__(settings, settings.flows, gate)
        self._flows = settings.flows

    async def discover(self, ctx: RunContext, streams: Sequence[Stream]) -> Discovery:
        """Nothing to ask the API: the groupings and tenants come from the config."""
        jobs = [self._logs_job(t, ctx.now) for t in self._flows.tenants] if LOGS in streams else []
        return Discovery(scopes=self._flows.group_by, jobs=jobs)

    def plan(
        self,
        scopes: Any,
        streams: Sequence[Stream],
        request: PlanRequest,
        covered: Mapping[tuple[str, str], datetime],
    ) -> list[Partition]:
        """One partition per (UTC day, grouping). Incremental runs restart each grouping
        at its mark minus the lookback, so today's partial day is read again."""
        if COUNTS not in streams:
            return []
        return list(_count_partitions(scopes, request, covered))

    async def pages(self, partition: Partition, checkpoint: Checkpoint) -> AsyncIterator[PageWrite]:
        day, (group_by,) = partition.start.date(), partition.scopes
        reply = await self.client.get(
            "/icenter/executions",
            {"start": day.isoformat(), "end": day.isoformat(), "groupby": group_by},
            what=f"execution counts {day.isoformat()} by {group_by}",
        )
        rows = count_table_rows(reply, day, group_by)
        if isinstance(rows, str):  # keep the reply, then fail the partition
            reject = Reject(COUNTS.name, rows, raw_text(reply), partition.key)
            yield PageWrite(partition, COUNTS.name, [], _done(partition, checkpoint, 0, done=False), [reject])
            raise ProtocolError(rows)
        yield PageWrite(partition, COUNTS.name, rows, _done(partition, checkpoint, len(rows)))

    def _logs_job(self, tenant: str, now: datetime) -> Job:
        async def writes() -> AsyncIterator[Write]:
            query = {"filter[tenant]": tenant}
            budget = self.client.retry_budget()
            plain = await self.client.get("/logs", query, what=f"logs of {tenant}", budget=budget)
            errors = await self.client.get(
                "/logs", {**query, "showErrors": "true"}, what=f"error logs of {tenant}", budget=budget
            )
            entries = [log_entries(plain), log_entries(errors)]
            bad = [(e, r) for e, r in zip(entries, (plain, errors), strict=True) if isinstance(e, str)]
            if bad:
                reason, reply = bad[0]
                yield PageWrite(None, LOGS.name, [], None, [Reject(LOGS.name, str(reason), raw_text(reply))])
                raise ProtocolError(f"tenant {tenant}: {reason}")
            rows, rejects = [], []
            for entry, is_error in merge_error_reads(entries[0], entries[1]):
                row = log_row(entry, tenant, is_error)
                if isinstance(row, str):
                    rejects.append(Reject(LOGS.name, row, raw_text(entry)))
                else:
                    rows.append(row)
            yield PageWrite(None, LOGS.name, rows, None, rejects)

        return Job(LOGS.name, f"flow_logs tenant={tenant}", writes)


def _count_partitions(
    group_bys: Sequence[str], request: PlanRequest, covered: Mapping[tuple[str, str], datetime]
) -> Iterator[Partition]:
    for group_by in group_bys:
        if request.start is not None and request.end is not None:
            start, end = request.start, request.end
        else:
            start = restart(covered.get((COUNTS.name, group_by)), request.default_start, request.lookback)
            end = request.now
        for day_start, day_end in day_slices(start, end):
            yield Partition(COUNTS.name, day_start, day_end, (group_by,))


def _done(partition: Partition, before: Checkpoint, rows: int, *, done: bool = True) -> Checkpoint:
    return Checkpoint(partition.key, None, 0, done, before.pages + 1, before.rows + rows)
