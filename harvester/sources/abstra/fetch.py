"""Fetchers: one partition (or snapshot) in, a stream of writes out.

Each fetcher pages one chain sequentially and yields a `PageWrite` per page carrying
the checkpoint that follows it; the writer commits the two together. Fetchers never
touch the warehouse, so they can run concurrently without coordination.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from ...errors import ActionError, ProtocolError, WindowRefusedError
from ...pages import Checkpoint, EntryPage, PageWrite, Reject, Row, SnapshotWrite
from ...paging import CursorPaging, OffsetPaging
from ...planner import Partition
from ...records import RowBuilder
from .client import AbstraClient, reply_json
from .models import (
    ConsumptionQuery,
    ExecutionsQuery,
    LogQuery,
    ProjectLogQuery,
    ProjectQuery,
)
from .records import consumption_rows, organization_rows, snapshot_items
from .streams import ALL_STREAMS, TABLES

__all__ = ["Organization", "fetch_organization", "fetch_partition", "fetch_snapshot"]

log = structlog.get_logger("harvester.fetch")


@dataclass(frozen=True)
class Organization:
    """What a run learns from `get_organization` before planning."""

    project_ids: tuple[str, ...]
    writes: tuple[SnapshotWrite, ...]


def _split(results: list[Row | Reject]) -> tuple[list[Row], list[Reject]]:
    rows: list[Row] = []
    rejects: list[Reject] = []
    for r in results:
        (rejects if isinstance(r, Reject) else rows).append(r)
    return rows, rejects


def _in_window(rows: list[Row], end: datetime) -> list[Row]:
    """Windows are half-open: a row stamped exactly `end` belongs to the next window
    (the API's `to` may be inclusive). Any other row the API returns is kept."""
    return [r for r in rows if r["created_at"] != end]


def _tag(rejects: list[Reject], partition: Partition) -> list[Reject]:
    return [Reject(r.stream, r.reason, r.raw, partition.key) for r in rejects]


async def fetch_partition(
    client: AbstraClient, partition: Partition, checkpoint: Checkpoint, *, page_size: int
) -> AsyncIterator[PageWrite]:
    """Page one windowed partition from its checkpoint to its end."""
    action = ALL_STREAMS[partition.stream].action
    if action == "get_project_executions":
        pages = _execution_pages(client, partition, checkpoint, page_size)
    elif action == "get_project_consumption":
        pages = _consumption_page(client, partition, checkpoint)
    else:
        pages = _log_pages(client, partition, checkpoint, page_size)
    async for write in pages:
        yield write


async def _log_pages(
    client: AbstraClient, partition: Partition, checkpoint: Checkpoint, page_size: int
) -> AsyncIterator[PageWrite]:
    """Page one log chain. A plain-JSON page travels as its reply's bytes, and the
    writer types its entries in SQL (`sinks.entries`); `_log_rows` reads any page
    SQL does not vouch for, or that only the tolerant parser could read."""
    stream = ALL_STREAMS[partition.stream]
    builder = RowBuilder(TABLES[stream.tables[0]], required=("createdAt",))
    paging = CursorPaging(cursor=checkpoint.cursor)
    total_pages, total_rows = checkpoint.pages, checkpoint.rows
    budget = client.retry_budget()
    while not paging.done:
        query = _log_query(partition, page_size, paging.cursor)
        try:
            page = await client.log_page_reply(stream.action, query, budget=budget)
        except ActionError as exc:
            if not paging.cursor or paging.pages or isinstance(exc, WindowRefusedError):
                raise
            log.warning("fetch.cursor_refused", partition=partition.label(), error=str(exc))
            paging = CursorPaging()  # a stored cursor expired: restart the chain; dedup absorbs repeats
            continue
        paging.advance(page.count, page.next_cursor)
        total_pages += 1
        if page.body is not None:
            total_rows += page.count
            after = Checkpoint(partition.key, paging.cursor, 0, paging.done, total_pages, total_rows)
            entries = EntryPage(
                page.body,
                ("data", "entries"),
                page.count,
                functools.partial(_log_rows, builder, partition, page.body),
                required=builder.required,
                end=partition.end,
            )
            yield PageWrite(partition, stream.tables[0], [], after, entries=entries)
            continue
        rows, rejects = _log_rows(builder, partition, page.entries)
        total_rows += len(rows)
        after = Checkpoint(partition.key, paging.cursor, 0, paging.done, total_pages, total_rows)
        yield PageWrite(partition, stream.tables[0], rows, after, rejects)


def _log_rows(builder: RowBuilder, partition: Partition, entries: list[Any] | bytes) -> tuple[list[Row], list[Reject]]:
    """A log page's rows (inside the window) and rejects, read in Python. `entries`
    may be the reply's bytes (a success envelope, shape already checked; read with
    the tolerant parser when orjson refuses them, as the client reads any reply)."""
    if isinstance(entries, bytes):
        entries = reply_json(entries)["data"]["entries"]
    rows, rejects = _split([builder.build(e, partition.stream) for e in entries])
    return _in_window(rows, partition.end), _tag(rejects, partition)


def _log_query(partition: Partition, page_size: int, cursor: str | None) -> LogQuery:
    common: dict[str, Any] = {"from": partition.start, "to": partition.end, "limit": page_size, "cursor": cursor}
    if partition.scopes and ALL_STREAMS[partition.stream].action == "get_project_action_logs":
        return ProjectLogQuery(projectIds=list(partition.scopes), **common)
    return LogQuery(**common)


async def _execution_pages(
    client: AbstraClient, partition: Partition, checkpoint: Checkpoint, page_size: int
) -> AsyncIterator[PageWrite]:
    builder = RowBuilder(TABLES["executions"], required=("createdAt",))
    (project_id,) = partition.scopes
    paging = OffsetPaging(limit=page_size, offset=checkpoint.offset)
    total_pages, total_rows = checkpoint.pages, checkpoint.rows
    budget = client.retry_budget()
    while not paging.done:
        page = await client.get_project_executions(
            ExecutionsQuery(projectId=project_id, **{"from": partition.start, "to": partition.end}, **paging.params()),
            budget=budget,
        )
        built = [builder.build(e, "executions", project_id=project_id) for e in page.executions]
        rows, rejects = _split(built)
        rows = _in_window(rows, partition.end)
        paging.advance(len(page.executions), page.total_count)
        total_pages, total_rows = total_pages + 1, total_rows + len(rows)
        yield PageWrite(
            partition,
            "executions",
            rows,
            Checkpoint(partition.key, None, paging.offset, paging.done, total_pages, total_rows),
            _tag(rejects, partition),
        )


async def _consumption_page(
    client: AbstraClient, partition: Partition, checkpoint: Checkpoint
) -> AsyncIterator[PageWrite]:
    (project_id,) = partition.scopes
    data = await client.get_project_consumption(
        ConsumptionQuery(projectId=project_id, **{"from": partition.start, "to": partition.end})
    )
    rows = consumption_rows(project_id, partition.start, partition.end, data)
    yield PageWrite(
        partition,
        "consumption",
        rows,
        Checkpoint(partition.key, None, 0, True, checkpoint.pages + 1, checkpoint.rows + len(rows)),
    )


async def fetch_organization(client: AbstraClient, seen_at: datetime) -> Organization:
    """`get_organization` → folders and projects snapshots, and the project ids to plan with."""
    data = await client.get_organization()
    _require_shape(data, dict, "get_organization")
    folders, projects = organization_rows(data)
    folder_builder = RowBuilder(TABLES["folders"], name_fallback=True)
    project_builder = RowBuilder(TABLES["projects"])
    folder_rows, folder_rejects = _split([folder_builder.build(f, "organization") for f in folders])
    project_results = [
        project_builder.build(p, "organization", **_folder_of(folder)) for folder, p in projects
    ]
    project_rows, project_rejects = _split(project_results)
    return Organization(
        tuple(sorted({r["id"] for r in project_rows})),
        (
            SnapshotWrite("folders", "", folder_rows, seen_at, folder_rejects),
            SnapshotWrite("projects", "", project_rows, seen_at, project_rejects),
        ),
    )


def _folder_of(folder: Any) -> dict[str, Any]:
    if not isinstance(folder, dict):
        return {"folder_id": None, "folder_name": None}
    fid, name = folder.get("id"), folder.get("name")
    return {
        "folder_id": None if fid is None else str(fid),
        "folder_name": name if isinstance(name, str) else None,
    }


async def fetch_snapshot(
    client: AbstraClient, stream_name: str, project_id: str | None, seen_at: datetime
) -> SnapshotWrite:
    """One snapshot call: members (org-wide) or one project's inventory."""
    stream = ALL_STREAMS[stream_name]
    table = stream.tables[0]
    if project_id is None:
        data = await client.execute(stream.action)
        _require_shape(data, (list, dict), stream.action)
        builder = RowBuilder(TABLES[table], name_fallback=True)
        items = data if isinstance(data, list) else [i for _, i in snapshot_items(data)]
        rows, rejects = _split([builder.build(i, stream_name) for i in items])
        return SnapshotWrite(table, "", rows, seen_at, rejects)
    data = await client.execute(stream.action, ProjectQuery(projectId=project_id).wire())
    _require_shape(data, (list, dict), stream.action)
    if table == "project_abstra_json":
        built = [RowBuilder(TABLES[table]).build(data, stream_name, project_id=project_id)]
    else:
        builder = RowBuilder(TABLES[table], name_fallback=True)
        built = [
            builder.build(item, stream_name, project_id=project_id, **_kind_column(table, key))
            for key, item in snapshot_items(data)
        ]
    rows, rejects = _split(built)
    return SnapshotWrite(table, project_id, rows, seen_at, rejects)


def _require_shape(data: Any, shape: type | tuple[type, ...], action: str) -> None:
    """A snapshot reply that is not a list or an object would read as "no items" and
    retire every stored row: fail that snapshot instead, keeping the last one."""
    if not isinstance(data, shape):
        names = " or ".join(t.__name__ for t in (shape if isinstance(shape, tuple) else (shape,)))
        raise ProtocolError(
            f"{action}: reply has the wrong shape: data is {type(data).__name__}, expected {names}",
            action=action,
        )


def _kind_column(table: str, key: str | None) -> dict[str, Any]:
    """Forms and pages come in separate lists; keep which list a stage came from."""
    return {"stage_kind": key} if table == "project_forms_and_pages" else {}
