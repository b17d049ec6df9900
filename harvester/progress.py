"""Progress bars on a terminal (rich), nothing otherwise: cron gets JSON log lines.

rich's progress module and the runner are imported only when a run starts, and rich's
only on a terminal: a cron run or `harvester status` does not pay for them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

    from .runner import NoProgress

__all__ = ["RichProgress", "terminal_progress"]


class RichProgress:
    """Jobs done out of planned, and rows landed, in one bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("planning", total=None, rows=0)
        self._rows = 0

    def planned(self, jobs: int) -> None:
        self._progress.update(self._task, total=jobs, description="harvesting")

    def page(self, stream: str, rows: int) -> None:
        self._rows += rows
        self._progress.update(self._task, rows=self._rows)

    def job_done(self) -> None:
        self._progress.advance(self._task)


@contextlib.contextmanager
def terminal_progress() -> Iterator[RichProgress | NoProgress]:
    if not sys.stderr.isatty():
        from .runner import NoProgress

        yield NoProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs  {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield RichProgress(progress)
