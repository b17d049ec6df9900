"""After-run alerts through the outbox: one document per run, nothing lost when the POST
fails or the process is killed between committing the alert and sending it, and a
duplicate only ever with the same `alert_id`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb

from tests.integration.conftest import START, SimFactory, write_config
from tests.receiver import receiver

END = START + timedelta(days=10)


def _config(server, folder: Path, url: str) -> Path:  # noqa: ANN001
    path = write_config(server, folder)
    path.write_text(path.read_text() + f'[alerts]\nwebhook = "{url}"\n')
    return path


def _run(config: Path, token: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "--log-format", "json", "backfill", "--config", str(config),
         "--since", "2025-01-01", "--until", "2025-01-11", *args],
        env={**os.environ, "ABSTRA_API_TOKEN": token}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()[-2000:]


def _outbox(folder: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select alert_id, status from _alerts order by created_at").fetchall()


def test_each_run_posts_one_document_whose_numbers_come_from_the_warehouse(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=3, start=START, end=END)
    with receiver() as hook:
        config = _config(server, tmp_path, hook.url)
        code, err = _finish(_run(config, server.sim.config.token))
        assert code == 0, err
        (document,) = hook.documents
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        failed = con.execute("select count(*) from auth_attempt_logs where status <> 'success'").fetchone()
        members = con.execute("select count(*) from members").fetchone()
    assert document["status"] == "ok" and document["run_id"] and document["alert_id"] == f"alert-{document['run_id']}"
    assert document["notable"]["failed_logins"]["count"] == failed[0] > 0
    assert len(document["notable"]["failed_logins"]["examples"]) == min(100, failed[0])
    assert document["notable"]["members_added"]["count"] == members[0]
    assert document["rows"]["auth_attempt_logs"] > 0
    assert _outbox(tmp_path) == [(document["alert_id"], "sent")]


def test_a_failed_post_is_a_partial_run_and_the_next_run_delivers_it(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=2, start=START, end=END)
    with receiver() as hook:
        config = _config(server, tmp_path, hook.url)
        hook.mode = "fail"
        code, err = _finish(_run(config, server.sim.config.token))
        assert code == 1 and "alert" in err
        assert [s for _, s in _outbox(tmp_path)] == ["pending"] and not hook.documents
        hook.mode = "ok"
        code, err = _finish(_run(config, server.sim.config.token))
        assert code == 0, err
        ids = hook.alert_ids()
    assert len(ids) == 2 and len(set(ids)) == 2  # the failed run's alert, then this run's
    assert [s for _, s in _outbox(tmp_path)] == ["sent", "sent"]


def test_a_receiver_flooding_its_reply_fails_the_post_with_a_cap_no_setting_raises(simulator: SimFactory, tmp_path: Path) -> None:
    """The receiver's reply is never read: it is capped at 1 MiB, and the message does
    not send the user to an API section's `max_reply_mb`, which does not govern it."""
    server = simulator(projects=2, start=START, end=END)
    with receiver() as hook:
        config = _config(server, tmp_path, hook.url)
        hook.mode = "flood"
        code, err = _finish(_run(config, server.sim.config.token))
    assert code == 1 and "reply larger than 1 MiB (Content-Length 2097152)" in err, err
    assert "max_reply" not in err
    assert [s for _, s in _outbox(tmp_path)] == ["pending"]


def test_a_kill_between_commit_and_post_loses_no_alert(simulator: SimFactory, tmp_path: Path) -> None:
    server = simulator(projects=2, start=START, end=END)
    with receiver() as hook:
        config = _config(server, tmp_path, hook.url)
        hook.mode = "hang"
        first = _run(config, server.sim.config.token)
        deadline = time.monotonic() + 120
        while hook.attempts == 0 and time.monotonic() < deadline:  # the alert is committed, the POST under way
            time.sleep(0.05)
        assert hook.attempts == 1
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        hook.mode = "ok"
        code, err = _finish(_run(config, server.sim.config.token))
        assert code == 0, err
        ids = hook.alert_ids()
    assert len(set(ids)) == 2, ids  # the killed run's alert arrives, then the second run's: none lost
    assert all(status == "sent" for _, status in _outbox(tmp_path))
