"""Ground truth as a file: what a harvest of `[start, end)` should end up holding.

Tests normally ask the `Org` directly; the file is for the benchmark and for
comparing against a warehouse from another process. One JSON object per line, with
a `kind` telling which of the shapes below it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..timeutil import floor_day
from .config import LOG_STREAMS
from .entities import INVENTORY_ACTIONS

if TYPE_CHECKING:
    from .org import Org

__all__ = ["dump_ground_truth"]


def _lines(org: Org, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    for stream in LOG_STREAMS:
        for entry in org.log_entries(stream, start, end):
            yield {"kind": "log", "stream": stream, "entry": entry}
        for bad in org.malformed_entries(stream, start, end):
            yield {"kind": "malformed", "stream": stream, "entry": bad}
    for execution in org.executions(start, end):
        yield {"kind": "execution", "entry": execution}
    day = floor_day(start)
    while day < end:
        if day >= start:
            for project in org.projects:
                metrics = org.consumption_for_day(project.id, day)
                yield {"kind": "consumption", "projectId": project.id, "day": day.date().isoformat(),
                       "metrics": metrics}
        day += timedelta(days=1)
    yield {"kind": "organization", "data": org.organization()}
    yield {"kind": "members", "data": org.members()}
    for project in org.projects:
        for action in INVENTORY_ACTIONS:
            yield {"kind": "inventory", "action": action, "projectId": project.id,
                   "data": org.inventory(action, project.id)}


def dump_ground_truth(org: Org, path: str | Path, start: datetime, end: datetime) -> int:
    """Write the lines; kinds: log, malformed, execution (with projectId), consumption
    (one per project and day whose midnight is in the range, flattened metrics),
    organization, members, inventory. Returns the number of lines written."""
    count = 0
    with Path(path).open("wb") as out:
        for line in _lines(org, start, end):
            out.write(orjson.dumps(line) + b"\n")
            count += 1
    return count
