"""RunLock: one run per warehouse across processes; a killed holder never blocks."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import pytest

from harvester.errors import RunLockedError
from state.lock import RunLock, lock_path_for
from tests.children import held_by_child

lock_held_by_child = functools.partial(held_by_child, "from state.lock import RunLock", "RunLock")
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
