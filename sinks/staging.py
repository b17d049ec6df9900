"""Hand rows to DuckDB through a temporary NDJSON file and `read_json`.

Why a file: `INSERT ... SELECT FROM read_json(...)` parses in DuckDB's threads,
needs neither pyarrow (55 MB of RSS) nor pandas, and keeps Python's share of a
batch to one serialised line at a time. JSON columns are written as nested JSON
values, so DuckDB stores their text once (no double encoding); timestamps are
RFC 3339 strings (`Z` for UTC), which DuckDB casts to TIMESTAMPTZ.

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

__all__ = ["MIN_OBJECT_SIZE", "Staged", "Stager", "choose_stage_root", "object_size_for", "read_json_sql"]

MIN_OBJECT_SIZE = 1 << 20  # DuckDB sizes its read buffers from this; keep it small by default
_SHM = Path("/dev/shm")
_SHM_MIN_FREE = 256 << 20
_DUMP_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class Staged:
    """A written stage file: the SQL that reads it, its row count and longest line."""

    sql: str
    count: int
    longest: int


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
    """The `maximum_object_size` that admits a line of `longest` bytes: a power of two.

    Sized per file because DuckDB allocates read buffers of twice this size per
    thread: a fixed huge value would waste memory on every ordinary batch.
    """
    size = MIN_OBJECT_SIZE
    while size <= longest:
        size *= 2
    return size


def read_json_sql(path: Path, columns: Sequence[tuple[str, str]], max_object_size: int) -> str:
    """A `read_json(...)` table expression with explicit column types (no sniffing)."""
    spec = ", ".join(f"{_literal(name)}: {_literal(sql_type)}" for name, sql_type in columns)
    return (
        f"read_json({_literal(str(path))}, columns={{{spec}}}, format='newline_delimited', "
        f"maximum_object_size={int(max_object_size)})"
    )


class Stager:
    """Owns one private temp directory; one stage file per statement."""

    def __init__(self, root: Path) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="harvester-stage-", dir=root))
        self._names = itertools.count()

    @contextmanager
    def staged(
        self, rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]
    ) -> Iterator[Staged]:
        """Write `rows` as NDJSON; yield the SQL reading them; delete the file after.

        Keys of a row that are not in `columns` are ignored by `read_json`; missing
        keys read as NULL. Raises orjson.JSONEncodeError for values JSON cannot
        carry (e.g. lone surrogates) and OSError when the directory is full.
        """
        path = self.directory / f"{next(self._names)}.ndjson"
        try:
            count, longest = _write_lines(path, rows)
            yield Staged(read_json_sql(path, columns, object_size_for(longest)), count, longest)
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _write_lines(path: Path, rows: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """Serialise the whole batch, then write it at once: fewer calls than a line loop."""
    dumps, options = orjson.dumps, _DUMP_OPTIONS
    lines = [dumps(row, option=options) for row in rows]
    with open(path, "wb") as out:
        out.write(b"".join(lines))
    return len(lines), max(map(len, lines), default=0)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
