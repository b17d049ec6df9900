"""Opening DuckDB the way the warehouse needs it, and turning its errors into ours.

Settings chosen for a flat memory profile: `preserve_insertion_order=false` lets
inserts stream, `allocator_flush_threshold` hands freed memory back after each
statement, and the session time zone is UTC so TIMESTAMPTZ values print as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from state.errors import ConfigError, RunLockedError, SinkError

__all__ = ["connect", "one_line", "parse_size", "size_setting"]

_LOCK_PID = re.compile(r"PID (\d+)")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_size(text: str) -> int:
    """`128MB`, `1GiB`, `500kb` → bytes (DuckDB's units: KB = 1000, KiB = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"memory limit {text!r} is not a size like 128MB or 1GiB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def size_setting(text: str) -> str:
    """A size in bytes as DuckDB reads it, so our arithmetic and DuckDB's agree."""
    return f"{parse_size(text)}B"


def connect(
    path: Path,
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
        raise SinkError(f"cannot open the warehouse {path}: {one_line(exc)}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error as exc:
        con.close()
        raise SinkError(f"cannot configure the warehouse {path}: {one_line(exc)}") from exc
    return con


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an error: DuckDB's messages run to several."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

