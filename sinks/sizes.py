"""Sizes as DuckDB reads them (`128MB`, `1GiB`): pure, so the config can check them
without loading DuckDB."""

from __future__ import annotations

import re

from state.errors import ConfigError

__all__ = ["DEFAULT_SPILL_LIMIT", "parse_size", "size_setting"]

DEFAULT_SPILL_LIMIT = "4GB"  # temporary disk one read-only query may fill before it is stopped
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
