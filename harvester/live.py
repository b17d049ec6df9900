"""Reading while a run writes: the run answers `status` and `sql` over a Unix socket.

DuckDB gives a file to one process at a time when one of them writes, so while a run
holds the warehouse every other process is refused, read-only or not. Rather than a
second writer or copies, the run itself serves readers, and there is still ONE writer:

    harvester status / sql ──(Unix socket beside the warehouse)──▶ the run's process
                                                                     fresh read-only cursor
                                                                     per query (committed rows)

- Where: `<warehouse>.sock`, or, when that path is too long for a Unix socket, a
  socket named by the warehouse's path hash in `/tmp/harvester-<uid>/` (mode 0700).
  The socket is bound in a fresh private directory with mode 0600 and renamed into
  place, so it is never reachable with wider permissions, and a stale one left by a
  killed run is replaced atomically. Only the run's user may connect: the file's mode
  says so, the server checks the peer's uid (SO_PEERCRED), and a client refuses a
  socket owned by anyone else.
- What it can do: see `sinks.live_reads` (a confined database, a read-only
  transaction always rolled back, one SELECT or EXPLAIN SELECT). Results stream back in
  chunks, capped at `MAX_ROWS` rows and `MAX_BYTES` bytes (the client is told when
  they were cut); a query running past `QUERY_SECONDS` is interrupted.
- Never in the run's way: the writer's connection is used once, to make the parent
  cursor, before the run writes; queries run in worker threads beside the writer's;
  a reader's failure is logged and never reaches the run; at the end running queries
  are interrupted and the socket removed. A killed run leaves its socket file behind:
  connecting to it is refused, which a client reads as "no run".
- Protocol: one JSON request line (`{"op": "status"}` or `{"op": "sql", "sql": ...}`),
  answered by JSON lines: `{"columns": [...]}`, `{"rows": [[...], ...]}` chunks, then
  `{"end": {...}}`; or `{"status": [...], "run": {...}}`; or `{"error": ..., "code": N}`.
  Instants travel as ISO-8601 text with milliseconds and `Z`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import orjson
import structlog
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from sinks import Warehouse
from sinks.live_reads import LiveQuery, LiveReader

from .background import background
from .errors import (
    ConfigError,
    ExitCode,
    HarvestError,
    RunLockedError,
    SinkError,
    StorageError,
)
from .progress import RunProgress
from .timeutil import format_wire, utc_now

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "QUERY_SECONDS",
    "LiveAnswer",
    "NoLiveRun",
    "ask_live",
    "read_during_runs",
    "serve_live",
    "socket_path_for",
]

MAX_ROWS = 100_000  # rows one live query returns at most
MAX_BYTES = 64 << 20  # encoded bytes one live query returns at most
QUERY_SECONDS = 120.0  # a live query running longer is interrupted
MAX_REQUEST = 1 << 20
MAX_FRAME = MAX_BYTES + (1 << 20)
_CHUNK_ROWS = 1000
_QUERY_SLOTS = 2  # live queries at once; more wait their turn
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; keep a margin
_WAIT_FOR_RUN_SECONDS = 5.0  # a run that holds the file but has no socket yet (starting, finishing)
_CLIENT_TIMEOUT_SECONDS = QUERY_SECONDS + 10

log = structlog.get_logger("harvester.live")
T = TypeVar("T")


class NoLiveRun(Exception):
    """No run answers on the socket (none running, or a killed run's stale socket)."""


# ---- where the socket lives --------------------------------------------------


def socket_path_for(warehouse: Path) -> Path:
    """`<warehouse>.sock` beside the file, or a short private path when that is too long."""
    warehouse = Path(warehouse).resolve()
    beside = warehouse.with_name(warehouse.name + ".sock")
    if len(os.fsencode(beside)) <= _SUN_PATH_MAX:
        return beside
    digest = hashlib.sha256(os.fsencode(warehouse)).hexdigest()[:24]
    return Path("/tmp") / f"harvester-{os.getuid()}" / f"{digest}.sock"


def _private_dir(path: Path) -> None:
    """Create the socket's folder when it is our private one in /tmp, and refuse it when
    another user owns it or it is open to others (they could swap our socket)."""
    folder = path.parent
    if not folder.name.startswith("harvester-"):
        return
    with suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{folder} is not a private folder of this user")


# ---- the server (inside the run) ---------------------------------------------


@asynccontextmanager
async def serve_live(warehouse: Warehouse, progress: RunProgress, run_id: str) -> AsyncIterator[None]:
    """Serve live reads of `warehouse` while the block runs. Never fails the run: a
    socket that cannot be made is logged (`live.unavailable`) and the run goes on."""
    path = socket_path_for(warehouse.path)
    try:
        _private_dir(path)
        listener, inode = await _listen(path)
    except OSError as exc:
        log.warning("live.unavailable", path=str(path), error=str(exc))
        listener = None
    if listener is None:
        yield
        return
    server = _Server(warehouse.live_reader(), progress, run_id)
    try:
        async with background(before_cancel=server.reader.interrupt_all) as tg:
            tg.start_soon(listener.serve, server.handle, tg)
            yield
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
        server.reader.close()
        _remove_if_ours(path, inode)


async def _listen(path: Path) -> tuple[Any, int]:
    """Bind in a fresh 0700 folder with mode 0600, then rename over `path` (replacing a
    killed run's socket in one step)."""
    staging = Path(tempfile.mkdtemp(prefix=".harvester-sock-", dir=path.parent))
    try:
        listener = await anyio.create_unix_listener(staging / "s", mode=0o600)
        try:
            os.rename(staging / "s", path)
        except BaseException:
            await listener.aclose()
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return listener, os.lstat(path).st_ino


def _remove_if_ours(path: Path, inode: int) -> None:
    with suppress(OSError):
        if os.lstat(path).st_ino == inode:
            path.unlink()


class _Server:
    def __init__(self, reader: LiveReader, progress: RunProgress, run_id: str) -> None:
        self.reader = reader
        self._progress = progress
        self._run_id = run_id
        self._slots = anyio.CapacityLimiter(_QUERY_SLOTS)

    async def handle(self, stream: SocketStream) -> None:
        """One client: one request, one answer. Nothing it does reaches the run."""
        async with stream:
            try:
                if _peer_uid(stream) not in (None, os.getuid()):
                    return
                request = await _read_request(stream)
                if request.get("op") == "status":
                    await self._status(stream)
                elif request.get("op") == "sql" and isinstance(request.get("sql"), str):
                    await self._sql(stream, request["sql"])
                else:
                    await _send(stream, {"error": "unknown request", "code": int(ExitCode.CONFIG)})
            except HarvestError as exc:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await _send(stream, {"error": str(exc), "code": int(exc.exit_code)})
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
                    anyio.IncompleteRead, anyio.DelimiterNotFound, orjson.JSONDecodeError, TimeoutError):
                pass  # the client went away or sent nonsense
            except Exception as exc:  # a reader's bug must not end the run
                log.warning("live.failed", error=f"{type(exc).__name__}: {exc}")

    async def _status(self, stream: SocketStream) -> None:
        run = {"run_id": self._run_id, **self._progress.snapshot()}
        async with self._slots:
            tables = await anyio.to_thread.run_sync(self.reader.status, utc_now())
        await _send(stream, {"status": tables, "run": run})

    async def _sql(self, stream: SocketStream, sql: str) -> None:
        async with self._slots:
            query = await anyio.to_thread.run_sync(self.reader.open_query, sql)
            try:
                async with background() as watchdog:
                    watchdog.start_soon(_interrupt_after, query, QUERY_SECONDS)
                    await _stream_rows(stream, query)
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(query.close)


async def _interrupt_after(query: LiveQuery, seconds: float) -> None:
    await anyio.sleep(seconds)
    query.interrupt()


async def _stream_rows(stream: SocketStream, query: LiveQuery) -> None:
    await _send(stream, {"columns": query.columns})
    rows_sent = bytes_sent = 0
    truncated = False
    while not truncated:
        rows = await anyio.to_thread.run_sync(query.fetch, min(_CHUNK_ROWS, MAX_ROWS - rows_sent + 1))
        if not rows:
            break
        if rows_sent + len(rows) > MAX_ROWS:
            rows, truncated = rows[: MAX_ROWS - rows_sent], True
        frame = _frame({"rows": rows})
        if bytes_sent + len(frame) > MAX_BYTES:
            truncated = True
            break
        await stream.send(frame)
        rows_sent, bytes_sent = rows_sent + len(rows), bytes_sent + len(frame)
    await _send(stream, {"end": {"rows": rows_sent, "truncated": truncated}})


def _peer_uid(stream: SocketStream) -> int | None:
    """The connecting process's uid (Linux), or None where the OS cannot tell."""
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return int(uid)


async def _read_request(stream: SocketStream) -> dict[str, Any]:
    with anyio.fail_after(10):
        line = await BufferedByteReceiveStream(stream).receive_until(b"\n", MAX_REQUEST)
    request = orjson.loads(line)
    return request if isinstance(request, dict) else {}


def _wire(value: Any) -> Any:
    """JSON for what DuckDB returns beyond JSON's types: instants as wire text, the
    rest (decimals, UUIDs, dates, intervals, blobs) as the text `sql` prints."""
    return format_wire(value) if isinstance(value, datetime) else str(value)


def _frame(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message, default=_wire, option=orjson.OPT_PASSTHROUGH_DATETIME) + b"\n"


async def _send(stream: SocketStream, message: dict[str, Any]) -> None:
    await stream.send(_frame(message))


# ---- the client (status, sql) ------------------------------------------------


class LiveAnswer:
    """What a run answered: a query's columns and rows (and whether they were cut), or
    the status rows and the run's progress snapshot."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows: list[list[Any]] = []
        self.truncated = False
        self.status: list[dict[str, Any]] = []
        self.run: dict[str, Any] = {}


def ask_live(warehouse: Path, request: dict[str, Any], *, timeout: float = _CLIENT_TIMEOUT_SECONDS) -> LiveAnswer:
    """Send one request to the run holding `warehouse`. NoLiveRun when no run answers;
    the run's own error (a refused statement, a failed query) as HarvestError."""
    answer = LiveAnswer()
    for message in _exchange(socket_path_for(warehouse), request, timeout):
        if "error" in message:
            raise _remote_error(str(message["error"]), int(message.get("code", ExitCode.PARTIAL)))
        if "columns" in message:
            answer.columns = list(message["columns"])
        elif "rows" in message:
            answer.rows.extend(message["rows"])
        elif "end" in message:
            answer.truncated = bool(message["end"].get("truncated"))
        elif "status" in message:
            answer.status, answer.run = list(message["status"]), dict(message["run"])
    return answer


def _exchange(path: Path, request: dict[str, Any], timeout: float) -> Iterator[dict[str, Any]]:
    _check_owner(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoLiveRun(str(path)) from exc
        sock.sendall(orjson.dumps(request) + b"\n")
        with sock.makefile("rb") as lines:
            while line := lines.readline(MAX_FRAME):
                if not line.endswith(b"\n"):
                    raise SinkError(f"the run's answer on {path} was cut or too long; query again")
                yield orjson.loads(line)


def _check_owner(path: Path) -> None:
    """Refuse a socket another user could have put there (it would see our queries and
    could answer anything)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError as exc:
        raise NoLiveRun(str(path)) from exc
    if not stat.S_ISSOCK(info.st_mode):
        raise SinkError(f"{path} is not a socket: remove it (the run makes it again)")
    if info.st_uid != os.getuid():
        raise SinkError(
            f"the live-read socket {path} belongs to uid {info.st_uid}, not to you: refusing it; "
            "run `status`/`sql` as the user that runs the harvester"
        )


def _remote_error(message: str, code: int) -> HarvestError:
    """The run's error as the same class (so the same exit code) it had there."""
    for kind in (StorageError, ConfigError, SinkError):
        if kind.exit_code == code:
            return kind(message)
    return SinkError(message)


def read_during_runs(warehouse: Path, local: Callable[[], T], live: Callable[[], T]) -> T:
    """`local()` (the file opened read-only); while a run holds the file, `live()` (asked
    of the run). A run that holds the file without a socket yet (starting) or any more
    (finishing) is waited for a few seconds, then its lock error is raised."""
    deadline = time.monotonic() + _WAIT_FOR_RUN_SECONDS
    while True:
        try:
            return local()
        except RunLockedError as locked:
            try:
                return live()
            except NoLiveRun:
                if time.monotonic() > deadline:
                    raise locked from None
        time.sleep(0.1)
