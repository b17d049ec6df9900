"""Which automations need their children re-read this run. Pure.

Listing automations is cheap (one chain per workspace, newest `update_time` first)
and happens every run. Their revisions, schedule, triggers and default-inputs history
cost four calls or more each, so an incremental run re-reads them only where the
automation's `update_time` moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

__all__ = ["automations_to_reread"]


def automations_to_reread(
    listed: Mapping[str, datetime | None],
    previous: Mapping[str, datetime | None] | None,
    *,
    full: bool = False,
) -> list[str]:
    """Ids from `listed` (id → update_time as listed now) whose children must be re-read,
    in `listed`'s order.

    All of them with `full` or without previous state (None or empty: a first run).
    Otherwise an id is re-read when it is new, when its update_time differs from the
    previous one in either direction (a restore can move it back), or when either side
    has no update_time (nothing proves it unchanged).

    `previous` must hold, per automation, the update_time as of the last *completed*
    re-read of its children, not merely the last listing: a run that listed an
    automation but failed to read its triggers must not make the next run skip them.
    """
    if full or not previous:
        return list(listed)
    return [
        automation_id
        for automation_id, update_time in listed.items()
        if update_time is None
        or automation_id not in previous
        or previous[automation_id] is None
        or previous[automation_id] != update_time
    ]
