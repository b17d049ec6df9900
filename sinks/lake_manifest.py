"""The lake's bookkeeping, pure: partition names, the per-table manifest, and which
partitions a sync rewrites.

Each table directory holds `_manifest.json`: per partition, the file(s) that are its
current version, its row count and a fingerprint of the warehouse rows it was written
from. A sync compares the warehouse's per-partition summary with the manifest and
rewrites exactly the partitions that differ, so no clock or watermark has to be
trusted: a partition whose rows were added, replaced (new `harvested_at`) or deleted
has a different count or fingerprint.

A manifest is read from storage, so it is untrusted input: every partition name and
file name in it is checked against the patterns this module writes, and a manifest
that fails is treated as absent (the table is rebuilt), never followed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

__all__ = [
    "FLAT",
    "MANIFEST_NAME",
    "NULL_DAY",
    "LakePlan",
    "Manifest",
    "ManifestError",
    "PartitionState",
    "Summary",
    "day_bounds",
    "day_partition",
    "is_file_name",
    "is_partition",
    "partition_day",
    "plan_partitions",
]

FORMAT = 1
MANIFEST_NAME = "_manifest.json"
FLAT = ""  # the one partition of a table stored as a single file set (snapshots, _rejects)
NULL_DAY = "date=__HIVE_DEFAULT_PARTITION__"  # Hive's name for a NULL partition value
_DAY = re.compile(r"date=(\d{4})-(\d{2})-(\d{2})\Z")
# Final data files: `part.parquet` (local, replaced in place by rename) or
# `part-<32 hex>.parquet` (object stores: a new name per version).
_FILE = re.compile(r"part(-[0-9a-f]{32})?\.parquet\Z")
_TEMP = re.compile(r"\.part(-[0-9a-f]{32})?\.parquet\.[0-9a-f]{32}\.tmp\Z")


class ManifestError(ValueError):
    """A stored manifest this module would not have written (and so will not follow)."""


def day_partition(day: date | None) -> str:
    """`date=YYYY-MM-DD` for a UTC day, the Hive NULL partition for None."""
    if day is None:
        return NULL_DAY
    return f"date={day.year:04d}-{day.month:02d}-{day.day:02d}"


def partition_day(partition: str) -> date | None:
    """The day of a `date=` partition (None for the NULL partition); ValueError otherwise."""
    if partition == NULL_DAY:
        return None
    match = _DAY.fullmatch(partition)
    if not match:
        raise ValueError(f"{partition!r} is not a date partition")
    return date(*map(int, match.groups()))


def day_bounds(day: date) -> tuple[datetime, datetime | None]:
    """`[start, end)` of a UTC day; end None for the last representable day."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, (start + timedelta(days=1) if day < date.max else None)


def is_partition(name: str) -> bool:
    """A partition name this module writes (FLAT, a valid `date=` day or NULL_DAY)."""
    if name in (FLAT, NULL_DAY):
        return True
    try:
        partition_day(name)
    except ValueError:
        return False
    return True


def is_file_name(name: str, *, temp: bool = False) -> bool:
    """A data file name (or with temp=True, a temp file name) this module writes."""
    return bool((_TEMP if temp else _FILE).fullmatch(name))


@dataclass(frozen=True)
class Summary:
    """What the warehouse holds for one partition now."""

    rows: int
    fingerprint: str  # hex of bit_xor(hash(key, harvested_at)) or of all columns
    newest: datetime | None = None  # max harvested_at (last_seen_at / rejected_at for flat tables)


@dataclass(frozen=True)
class PartitionState:
    """A partition's current version in the lake."""

    files: tuple[str, ...]
    rows: int
    fingerprint: str
    newest: str | None = None

    def matches(self, summary: Summary) -> bool:
        return self.rows == summary.rows and self.fingerprint == summary.fingerprint


@dataclass(frozen=True)
class Manifest:
    table: str
    partitions: Mapping[str, PartitionState] = field(default_factory=dict)
    columns: tuple[tuple[str, str], ...] = ()
    synced_at: str | None = None

    def with_partition(self, key: str, state: PartitionState | None) -> Manifest:
        parts = dict(self.partitions)
        if state is None:
            parts.pop(key, None)
        else:
            parts[key] = state
        return replace(self, partitions=parts)

    def files(self) -> set[tuple[str, str]]:
        """Every (partition, file name) the manifest lists."""
        return {(key, name) for key, state in self.partitions.items() for name in state.files}

    @property
    def watermark(self) -> str | None:
        """The newest `harvested_at` the lake holds (informational, for readers)."""
        stamps = [s.newest for s in self.partitions.values() if s.newest]
        return max(stamps) if stamps else None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": FORMAT,
                "table": self.table,
                "synced_at": self.synced_at,
                "watermark": self.watermark,
                "columns": [list(c) for c in self.columns],
                "partitions": {
                    key: {"files": list(s.files), "rows": s.rows, "fingerprint": s.fingerprint, "newest": s.newest}
                    for key, s in sorted(self.partitions.items())
                },
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, table: str, data: bytes) -> Manifest:
        """Parse and check a stored manifest; ManifestError for anything this module would not write."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ManifestError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("table") != table:
            raise ManifestError(f"not a format-{FORMAT} manifest of {table}")
        raw_parts = doc.get("partitions")
        if not isinstance(raw_parts, dict):
            raise ManifestError("partitions is not an object")
        parts = {key: _state(key, value) for key, value in raw_parts.items()}
        columns = tuple(tuple(c) for c in doc.get("columns") or () if isinstance(c, list) and len(c) == 2)
        synced = doc.get("synced_at")
        return cls(table, parts, columns, synced if isinstance(synced, str) else None)  # type: ignore[arg-type]


def _state(key: Any, value: Any) -> PartitionState:
    if not isinstance(key, str) or not is_partition(key):
        raise ManifestError(f"partition {key!r} is not one this lake writes")
    if not isinstance(value, dict):
        raise ManifestError(f"partition {key}: not an object")
    files, rows, fingerprint, newest = (value.get(k) for k in ("files", "rows", "fingerprint", "newest"))
    if not isinstance(files, list) or not all(isinstance(f, str) and is_file_name(f) for f in files):
        raise ManifestError(f"partition {key}: a file name this lake does not write")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ManifestError(f"partition {key}: rows is not a count")
    if not isinstance(fingerprint, str) or not (newest is None or isinstance(newest, str)):
        raise ManifestError(f"partition {key}: bad fingerprint or newest")
    return PartitionState(tuple(files), rows, fingerprint, newest)


@dataclass(frozen=True)
class LakePlan:
    rewrite: tuple[str, ...]  # partitions to write anew, in order
    drop: tuple[str, ...]  # partitions the warehouse no longer has


def plan_partitions(
    current: Mapping[str, Summary],
    manifest: Manifest,
    present: set[tuple[str, str]],
    forced: Callable[[str], bool],
) -> LakePlan:
    """Rewrite a partition when it is forced, new, different from its recorded state,
    or missing one of its recorded files; drop recorded partitions the warehouse lacks."""
    rewrite = []
    for key, summary in current.items():
        state = manifest.partitions.get(key)
        stale = state is None or not state.matches(summary) or any((key, name) not in present for name in state.files)
        if stale or forced(key):
            rewrite.append(key)
    drop = [key for key in manifest.partitions if key not in current]
    return LakePlan(tuple(sorted(rewrite)), tuple(sorted(drop)))
