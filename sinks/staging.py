"""Hand rows to DuckDB through a temporary JSON file and `read_json`.

Why a file: `INSERT ... SELECT FROM read_json(...)` parses in DuckDB, needs neither
pyarrow (55 MB of RSS) nor pandas, and costs Python one `orjson.dumps` call per
batch. The batch is written as one JSON array rather than NDJSON: a single dumps
of the list is about twice as fast as one call per row (no per-row bytes
objects), and DuckDB streams the array's elements just the same. JSON columns are
written as nested JSON values, so DuckDB stores their text once (no double
encoding); timestamps are RFC 3339 strings (`Z` for UTC), cast to TIMESTAMPTZ.

Files live in a private directory on /dev/shm when it has room (no disk I/O),
else next to the database, and are deleted as soon as the statement has read them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "MIN_OBJECT_SIZE",
    "Staged",
    "Stager",
    "choose_stage_root",
    "object_size_for",
    "read_json_sql",
    "sql_literal",
]

MIN_OBJECT_SIZE = 1 << 20  # DuckDB sizes its read buffers from this; keep it small by default
_SHM = Path("/dev/shm")
_SHM_MIN_FREE = 256 << 20
_PREFIX = "harvester-stage-"
_DUMP_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class Staged:
    """A written stage file: the SQL that reads it, its row count and size in bytes."""

    sql: str
    count: int
    size: int


def choose_stage_root(database: Path) -> Path:
    """/dev/shm when it exists, is writable and has room; else the database's directory."""
    try:
        if _SHM.is_dir() and os.access(_SHM, os.W_OK):
            stats = os.statvfs(_SHM)
            if stats.f_bavail * stats.f_frsize >= _SHM_MIN_FREE:
                return _SHM
    except OSError:
        pass
    return database.resolve().parent


def object_size_for(longest: int) -> int:
    """The `maximum_object_size` admitting an object of `longest` bytes: a power of two.

    Sized per file because DuckDB allocates read buffers of twice this size per
    thread (32 MiB at least): a fixed huge value would reserve memory for every
    ordinary batch. The file's size bounds its largest element, so a batch with a
    several-MB entry simply gets a bigger limit.
    """
    size = MIN_OBJECT_SIZE
    while size <= longest:
        size *= 2
    return size


def read_json_sql(path: Path, columns: Sequence[tuple[str, str]], max_object_size: int) -> str:
    """A `read_json(...)` table expression with explicit column types (no sniffing)."""
    spec = ", ".join(f"{sql_literal(name)}: {sql_literal(sql_type)}" for name, sql_type in columns)
    return (
        f"read_json({sql_literal(str(path))}, columns={{{spec}}}, format='array', "
        f"maximum_object_size={int(max_object_size)})"
    )


class Stager:
    """Owns one private temp directory; one stage file per statement.

    The directory name carries the owner's pid, so a later writer removes the
    directories of writers that were killed (on /dev/shm they would hold RAM).
    """

    def __init__(self, root: Path) -> None:
        _sweep_stale(root)
        self.directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=root))
        self._names = itertools.count()

    @contextmanager
    def staged(
        self, rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]
    ) -> Iterator[Staged]:
        """Write `rows` as a JSON array; yield the SQL reading them; delete the file after.

        Keys of a row that are not in `columns` are ignored by `read_json`; missing
        keys read as NULL. Raises orjson.JSONEncodeError for values JSON cannot
        carry (e.g. lone surrogates) and OSError when the directory is full.
        """
        with self.file("rows") as path:
            count, size = _write_array(path, rows)
            yield Staged(read_json_sql(path, columns, object_size_for(size)), count, size)

    @contextmanager
    def file(self, stem: str) -> Iterator[Path]:
        """A fresh path in the directory for the block; the file is deleted after it."""
        path = self.directory / f"{next(self._names)}-{stem}.json"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _sweep_stale(root: Path) -> None:
    try:
        entries = list(root.glob(f"{_PREFIX}*-*"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def _write_array(path: Path, rows: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    batch = rows if isinstance(rows, list) else list(rows)
    data = orjson.dumps(batch, option=_DUMP_OPTIONS)
    with open(path, "wb") as out:
        out.write(data)
    return len(batch), len(data)


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
