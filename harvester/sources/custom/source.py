"""`[[custom]]` streams as a source: one table `custom_<name>` per entry.

A stream with a `window` is windowed like the log streams: slices of `slice_days`,
a backfill by range, an incremental run from the stream's mark minus `lookback`, a
checkpoint after every page. A stream without one has no time to plan by, so every
run reads it whole and the table's first-copy-wins rule keeps what is stored.

Calls go through an Abstra API client of this source's own (its replies are the
`custom` action's), on the run's shared gate, so the custom streams and the other
sources together stay within `concurrency` and `requests_per_second`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...alerts import Notable
from ...config import Settings
from ...http import Gate
from ...pages import Checkpoint, PageWrite, Reject
from ...planner import Partition, restart, slice_range
from ..abstra.client import AbstraClient
from ..base import Discovery, Job, PlanRequest, RunContext, Stream, Write
from ..lazy import LazyClient
from .config import CustomStream
from .fetch import read_pages
from .records import custom_table

__all__ = ["CustomSource"]


class CustomSource(LazyClient[AbstraClient]):
    """Every `[[custom]]` entry of the config."""

    name = "custom"
    notable: tuple[Notable, ...] = ()

    def __init__(self, settings: Settings, gate: Gate | None = None) -> None:
        super().__init__(settings, gate)
        self._streams = {s.table: s for s in settings.custom}
        self.tables = tuple(custom_table(s.name) for s in settings.custom)
        self.streams = tuple(Stream(s.table, (s.table,), windowed=s.window is not None) for s in settings.custom)

    def _make_client(self) -> AbstraClient:
        return AbstraClient.from_settings(self._settings, gate=self._gate)

    async def discover(self, ctx: RunContext, streams: Sequence[Stream]) -> Discovery:
        """Nothing to ask: the streams come from the config. Unwindowed ones are jobs."""
        return Discovery(jobs=[self._whole(self._streams[s.name]) for s in streams if not s.windowed])

    def plan(
        self,
        scopes: Any,
        streams: Sequence[Stream],
        request: PlanRequest,
        covered: Mapping[tuple[str, str], datetime],
    ) -> list[Partition]:
        """One partition per slice of each windowed stream (no scopes)."""
        return [p for s in streams if s.windowed for p in _partitions(self._streams[s.name], request, covered)]

    async def pages(self, partition: Partition, checkpoint: Checkpoint) -> AsyncIterator[PageWrite]:
        stream = self._streams[partition.stream]
        resume = (checkpoint.cursor, checkpoint.offset) if checkpoint.pages else None
        pages, rows = checkpoint.pages, checkpoint.rows
        window = (partition.start, partition.end)
        async for page in read_pages(self.client, stream, self._page_size(stream), resume, window):
            pages, rows = pages + 1, rows + len(page.rows)
            cursor, number = page.checkpoint
            after = Checkpoint(partition.key, cursor, number, page.done, pages, rows)
            rejects = [Reject(r.stream, r.reason, r.raw, partition.key) for r in page.rejects]
            yield PageWrite(partition, stream.table, page.rows, after, rejects)

    def _whole(self, stream: CustomStream) -> Job:
        async def writes() -> AsyncIterator[Write]:
            async for page in read_pages(self.client, stream, self._page_size(stream)):
                yield PageWrite(None, stream.table, page.rows, None, page.rejects)

        return Job(stream.table, stream.table, writes)

    def _page_size(self, stream: CustomStream) -> int:
        return stream.page_size or self._settings.harvest.page_size


def _partitions(
    stream: CustomStream, request: PlanRequest, covered: Mapping[tuple[str, str], datetime]
) -> list[Partition]:
    """A backfill's range, or the stream's mark minus lookback up to now, in slices."""
    if request.start is not None and request.end is not None:
        start, end = request.start, request.end
    else:
        start = restart(covered.get((stream.table, "")), request.default_start, request.lookback)
        end = request.now
    return [Partition(stream.table, s, e) for s, e in slice_range(start, end, stream.slice_days)]
