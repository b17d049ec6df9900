"""One harvester run per warehouse at a time, enforced by `flock` on `<warehouse>.lock`.

Why flock: the kernel releases it when the holding process dies, however it dies
(SIGKILL, OOM), so a crashed run never blocks the next cron tick and there is no
stale-lock cleanup to get wrong. The file is never deleted: deleting a lock file
lets a third process lock a fresh inode while a second still holds the old one.
The pid inside is only for the error message.

The descriptor is opened close-on-exec; a process that forks while holding the
lock shares it with the child (flock belongs to the open file description).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from state.errors import ConfigError, RunLockedError

__all__ = ["RunLock", "lock_path_for"]


def lock_path_for(warehouse: Path) -> Path:
    """`warehouse.duckdb` → `warehouse.duckdb.lock`, next to it."""
    return warehouse.with_name(warehouse.name + ".lock")


class RunLock:
    """Exclusive, non-blocking run lock; use as a context manager.

    Raises RunLockedError on enter when another process (or another RunLock in this
    process) holds it.
    """

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = Path(warehouse)
        self.path = lock_path_for(self.warehouse)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this RunLock")
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise RunLockedError(
                f"another harvester run is using {self.warehouse} (pid {holder}); "
                "wait for it or run later"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _open(self) -> int:
        """The lock file's descriptor; a place where it cannot be created (`/proc`, a
        read-only or missing mount) is a configuration error naming the setting."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run lock {self.path} ({exc.strerror}): "
                "set [warehouse] duckdb to a file in a writable folder"
            ) from None

    def release(self) -> None:
        """Blank the pid and unlock. The file stays (see the module docstring)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    """The holder's pid as written in the file, or "unknown" while it is being written."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
