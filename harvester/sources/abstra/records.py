"""Abstra replies whose shape is not public, turned into rows: consumption, inventory, organization."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ...pages import Row
from ...records import Unstorable, json_fragment

__all__ = ["consumption_rows", "flatten_metrics", "organization_rows", "snapshot_items"]


def flatten_metrics(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in a reply, keyed by its dotted path (`cpu.seconds`,
    `aiPrompts.count`, `items.0.value`). The consumption keys are not public, so we
    keep all numbers whatever they are called."""
    if isinstance(data, bool) or data is None:
        return
    if isinstance(data, int | float):
        if math.isfinite(data):
            yield prefix or "value", float(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from flatten_metrics(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from flatten_metrics(value, f"{prefix}.{index}" if prefix else str(index))


def consumption_rows(project_id: str, start: datetime, end: datetime, data: Any) -> list[Row]:
    """A consumption reply in long format: one row per metric for the period.

    Two paths can spell the same metric (`{"a.b": 1, "a": {"b": 2}}`); the first wins,
    so a period never holds one metric twice."""
    metrics: dict[str, float] = {}
    for metric, value in flatten_metrics(data):
        metrics.setdefault(metric, value)
    try:
        raw = json_fragment(data) if metrics else None
    except Unstorable:
        raw = None  # the metrics are numbers, always storable; the reply's text is lost only here
    return [
        {
            "project_id": project_id,
            "period_start": start,
            "period_end": end,
            "metric": metric,
            "value": value,
            "raw": raw,
        }
        for metric, value in metrics.items()
    ]


def snapshot_items(data: Any) -> Iterator[tuple[str | None, Any]]:
    """The items of an inventory reply whose exact shape is not public.

    A list is the items themselves; an object contributes every list it holds, tagged
    with its key (`forms`, `pages`, `tables`, `connections`), so a reply of
    `{"forms": [...], "pages": [...]}` yields both kinds.
    """
    if isinstance(data, list):
        for item in data:
            yield None, item
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, list):
                for item in value:
                    yield key, item


def organization_rows(data: Any) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """`get_organization` → (folder entries, [(folder entry or None, project entry)]).

    Projects listed outside any folder are kept too, with no folder.
    """
    folders: list[Any] = []
    projects: list[tuple[Any, Any]] = []
    if not isinstance(data, dict):
        return folders, projects
    for folder in data.get("folders") or []:
        folders.append(folder)
        if isinstance(folder, dict):
            for project in folder.get("projects") or []:
                projects.append((folder, project))
    for project in data.get("projects") or []:
        projects.append((None, project))
    return folders, projects
