"""`harvester check` for the storage: the warehouse's folder and the local Parquet lake
are writable.

Writability is proven by creating and removing a temporary file where the run will
write, since permission bits lie (root, ACLs, read-only mounts). A folder that does
not exist yet is fine when its nearest existing parent is writable: the run creates
it. The warehouse file itself is never opened: when a run holds it, that is news,
not a failure.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from state.lock import RunLock, lock_path_for

from .check import Check
from .config import WarehouseSettings
from .errors import ConfigError, ExitCode, RunLockedError

__all__ = ["check_storage"]


def check_storage(warehouse: WarehouseSettings) -> list[Check]:
    checks = [_warehouse(warehouse.duckdb)]
    if warehouse.parquet:
        checks.append(_lake(warehouse.parquet))
    return checks


def _warehouse(path: Path) -> Check:
    name = "[warehouse] duckdb"
    fix = "set [warehouse] duckdb to a file in a folder this user can write"
    if path.is_dir():
        return Check.failed(name, f"{path} is a folder, not a file", fix, ExitCode.CONFIG)
    problem = _unwritable(path.parent)
    if problem:
        return Check.failed(name, problem, fix, ExitCode.CONFIG)
    try:
        holder = _run_holding(path)
    except ConfigError as exc:  # a lock file this user cannot open
        return Check.failed(name, str(exc), code=exc.exit_code)
    if holder:
        return Check.passed(name, f"{path}: in use by a run right now ({holder}); not opened", warn=True)
    if path.exists() and not os.access(path, os.W_OK):
        return Check.failed(name, f"{path} is read-only for this user", fix, ExitCode.CONFIG)
    return Check.passed(name, f"{path} writable" if path.exists() else f"{path} will be created")


def _lake(root: str) -> Check:
    name = "[warehouse] parquet"
    if "://" in root:
        return Check.passed(name, f"{root}: a remote lake is not checked here; the first export will", warn=True)
    folder = Path(root)
    fix = "set [warehouse] parquet to a folder this user can write"
    if folder.exists() and not folder.is_dir():
        return Check.failed(name, f"{folder} is a file, not a folder", fix, ExitCode.CONFIG)
    problem = _unwritable(folder)
    if problem:
        return Check.failed(name, problem, fix, ExitCode.CONFIG)
    return Check.passed(name, f"{folder} writable" if folder.exists() else f"{folder} will be created")


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (or, if it does not exist yet, in its
    nearest existing parent), or None when a temporary file came and went."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, so {folder} cannot be a folder"
    try:
        fd, temp = tempfile.mkstemp(prefix=".harvester-check-", dir=existing)
        os.close(fd)
        os.unlink(temp)
    except OSError as exc:
        return f"cannot create a file in {existing} ({exc.strerror})"
    return None


def _run_holding(warehouse: Path) -> str | None:
    """Who holds the warehouse's run lock ("pid N"), or None. A run always creates the
    lock file, so without one nothing is held and nothing is created here. With one,
    the lock is taken and given back at once (a run starting in that instant exits 4,
    as it would beside any other run)."""
    lock = lock_path_for(warehouse)
    if not lock.exists():
        return None
    try:
        with RunLock(warehouse):
            return None
    except RunLockedError:
        pid = _read(lock)
        return f"pid {pid}" if pid.isdigit() else "another process"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()[:32]
    except OSError:
        return ""
