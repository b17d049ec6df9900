"""RunLock: one run per warehouse across processes; a killed holder never blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harvester.errors import RunLockedError
from state import RunLock, lock_path_for

ROOT = Path(__file__).resolve().parents[2]

_HOLDER = """
import sys
from pathlib import Path
from state import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held_by_child(warehouse: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream:
                stream.close()


def test_a_second_run_in_another_process_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with lock_held_by_child(warehouse) as child, pytest.raises(RunLockedError) as caught:
        RunLock(warehouse).acquire()
    assert str(caught.value) == (
        f"another harvester run is using {warehouse} (pid {child.pid}); wait for it or run later"
    )
    assert caught.value.exit_code == 4


def test_a_lock_held_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with lock_held_by_child(warehouse) as child:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        with RunLock(warehouse) as lock:
            assert lock.held
            assert lock.path.read_text().strip() == str(os.getpid())


def test_the_lock_is_exclusive_within_a_process_too(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with RunLock(warehouse), pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        RunLock(warehouse).acquire()


def test_release_lets_the_next_run_in_and_keeps_the_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "sub" / "w.duckdb"
    with RunLock(warehouse):
        pass
    assert lock_path_for(warehouse).exists()  # never deleted: no third process can slip in
    assert lock_path_for(warehouse).read_text() == ""
    with RunLock(warehouse) as lock:
        assert lock.held
    assert not lock.held


def test_the_lock_file_sits_next_to_the_warehouse(tmp_path: Path) -> None:
    assert lock_path_for(tmp_path / "w.duckdb") == tmp_path / "w.duckdb.lock"
