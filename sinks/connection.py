"""Opening DuckDB the way the warehouse needs it, and turning its errors into ours.

Settings chosen for a flat memory profile: `preserve_insertion_order=false` lets
inserts stream, `allocator_flush_threshold` hands freed memory back after each
statement, and the session time zone is UTC so TIMESTAMPTZ values print as UTC.

Connections that run user SQL (`sql`, `sql --lake`) are *sealed* (`SEALED_SETTINGS`
then `seal`): read-only is a property of DuckDB's own settings, not of a text filter.
No file outside the database itself may be opened (`enable_external_access = false`
with no allowed paths at all: DuckDB lets an allowed path be written as well as read,
so the lake is handed over as Arrow datasets instead), no extension is installed or
loaded, temporary spill is capped, and `lock_configuration` stops any `SET` undoing it.

The writer's connection is *confined* (`confine`): once its stage directory exists it
may read and write that directory and its own database files, and nothing else, and
loads no extension. Every cursor of the running database inherits this, so a query a
run serves to `status` or `sql` (see `sinks.live_reads`) can reach no other file.

Storage faults (disk full, a corrupt file, out of memory) become `StorageError`, whose
exit code tells a scheduler that a person is needed; other errors stay `SinkError`.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from state.errors import RunLockedError, SinkError, StorageError

from .sizes import DEFAULT_SPILL_LIMIT, parse_size, size_setting

__all__ = [
    "DEFAULT_SPILL_LIMIT",
    "confine",
    "connect",
    "is_storage_fault",
    "one_line",
    "parse_size",
    "seal",
    "sealed_settings",
    "sink_error",
    "size_setting",
]

_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM})
_STORAGE_MARKERS = ("Corrupt database file", "checksum", "No space left", "not a valid DuckDB database")
_SPILL_MARKER = "max_temp_directory_size"

_LOCK_PID = re.compile(r"PID (\d+)")


def sealed_settings(spill_limit: str) -> dict[str, Any]:
    """Connection settings that leave a connection able to read its own database and
    nothing else: no other file (read or write), no extension, bounded spill."""
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "max_temp_directory_size": size_setting(spill_limit),
    }


def seal(con: duckdb.DuckDBPyConnection) -> None:
    """Lock the configuration: after this no statement can change a setting."""
    con.execute("SET lock_configuration = true")


def confine(con: duckdb.DuckDBPyConnection, directory: Path) -> None:
    """Limit the whole database instance (every cursor of `con`, now and later) to its
    own files and `directory`. One-way: DuckDB refuses to re-enable external access or
    to change the allowed directories while the database is open."""
    escaped = str(directory).replace("'", "''")
    con.execute(f"SET allowed_directories = ['{escaped}']")
    con.execute("SET enable_external_access = false")


def connect(
    path: Path | str,
    *,
    read_only: bool,
    memory_limit: str,
    threads: int | None,
    extra: Mapping[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect with flat-memory settings; map a lock conflict to RunLockedError.

    `allocator_flush_threshold` makes DuckDB hand freed memory back after each
    statement instead of keeping up to 128 MB cached in its allocator.
    """
    config: dict[str, Any] = {
        "memory_limit": size_setting(memory_limit),
        "preserve_insertion_order": False,
        "allocator_flush_threshold": "8MB",
        **(extra or {}),
    }
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        message = str(exc)
        if "Could not set lock" in message or "Conflicting lock" in message:
            pid = _LOCK_PID.search(message)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise RunLockedError(
                f"the warehouse {path} is in use by {who} (a harvester run?); wait for it or run later"
            ) from exc
        raise sink_error(f"opening {path}", exc, path) from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error as exc:
        con.close()
        raise sink_error(f"configuring {path}", exc, path) from exc
    return con


def is_storage_fault(exc: BaseException) -> bool:
    """The disk, the file or the memory failed (as opposed to the SQL or the data)."""
    if isinstance(exc, duckdb.OutOfMemoryException | duckdb.IOException):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_ERRNOS
    return isinstance(exc, duckdb.Error) and any(marker in str(exc) for marker in _STORAGE_MARKERS)


def sink_error(what: str, exc: BaseException, where: Path | str) -> SinkError:
    """One line for a failed DuckDB step: a StorageError naming the file and the cause
    when storage failed (a full disk's own file when the OS names it), else SinkError."""
    if _SPILL_MARKER in str(exc):
        return StorageError(
            f"{what} stopped: it needs more temporary disk than [warehouse] query_spill_limit allows "
            f"({where}); narrow it (a WHERE, fewer columns, a LIMIT) or raise the limit"
        )
    if not is_storage_fault(exc):
        return SinkError(f"{what} failed: {one_line(exc)}")
    place = getattr(exc, "filename", None) or where
    return StorageError(f"storage failure on {place}: {what} failed: {one_line(exc)}")


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an error: DuckDB's messages run to several."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

