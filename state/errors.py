"""The root of the error tree and the errors the warehouse and its state raise.

They live here, at the bottom of the import graph, so `state/` and `sinks/` can raise
them without importing `harvester/`; `harvester.errors` re-exports them and adds the
fetch errors. The whole tree, with exit codes, is drawn in `harvester/errors.py`.
"""

from __future__ import annotations

import enum

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ExitCode",
    "HarvestError",
    "RunLockedError",
    "SinkError",
    "StorageError",
]


class ExitCode(enum.IntEnum):
    """What a scheduler sees. Documented in the README; do not renumber."""

    OK = 0
    PARTIAL = 1  # the run finished but some partitions failed; re-run to fill them
    CONFIG = 2  # bad config or arguments; nothing was fetched
    AUTH = 3  # the token is missing or refused
    LOCKED = 4  # another run holds the warehouse; try later
    STORAGE = 5  # the warehouse's storage failed (disk full, corrupt file, out of memory); needs a person
    INTERRUPTED = 130  # SIGINT / SIGTERM; everything committed so far is kept


class HarvestError(Exception):
    """Root of every deliberate error."""

    exit_code: ExitCode = ExitCode.PARTIAL


class ConfigError(HarvestError):
    exit_code = ExitCode.CONFIG


class RunLockedError(HarvestError):
    exit_code = ExitCode.LOCKED


class SinkError(HarvestError):
    pass


class StorageError(SinkError):
    """The disk, the file or the memory under the warehouse failed, not the data.

    Its own exit code because retrying will not help and a scheduler must not file it
    with "partial, re-run later": someone has to free disk, restore the file or raise
    a limit. The message names the file and the cause.
    """

    exit_code = ExitCode.STORAGE


class CheckpointError(HarvestError):
    pass
