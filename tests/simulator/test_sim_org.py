"""The synthetic organization: deterministic, lazy, realistic enough, and runnable from a thread."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import orjson
import pytest

import harvester.simulator as simulator
from harvester.simulator import LOG_STREAMS, Org, SimConfig, run_in_thread
from harvester.simulator.actions import execute

from .helpers import call, day, page_all, small_config, window

START, END = day("2025-05-20"), day("2025-05-23")


def _fingerprint(org: Org) -> list[object]:
    return [
        org.organization(),
        org.members(),
        [list(org.log_entries(s, START, END)) for s in LOG_STREAMS],
        list(org.executions(START, END)),
        org.consumption_for_day(org.projects[0].id, START),
    ]


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert _fingerprint(Org(small_config(seed=7))) == _fingerprint(Org(small_config(seed=7)))
    assert _fingerprint(Org(small_config(seed=7))) != _fingerprint(Org(small_config(seed=8)))


def test_a_day_is_the_same_whatever_was_generated_before() -> None:
    fresh = Org(small_config(cache_entries=1))
    warm = Org(small_config())
    list(warm.log_entries("connector_action_logs", day("2025-05-02"), END))
    assert list(fresh.log_entries("connector_action_logs", START, END)) == list(
        warm.log_entries("connector_action_logs", START, END)
    )


def test_malformed_rate_leaves_the_underlying_data_alone() -> None:
    clean = Org(small_config())
    spoiled = Org(small_config(malformed_rate=0.1))
    good = {e["id"] for e in spoiled.log_entries("ai_prompt_logs", START, END)}
    all_ids = [e["id"] for e in clean.log_entries("ai_prompt_logs", START, END)]
    assert good < set(all_ids)
    assert len(all_ids) - len(good) == len(list(spoiled.malformed_entries("ai_prompt_logs", START, END)))


def test_million_entry_org_answers_a_page_quickly_with_bounded_memory() -> None:
    config = SimConfig(events_per_day={"connector_action_logs": 1_000_000 / 90}, cache_entries=50_000)
    started = time.perf_counter()
    org = Org(config)
    reply = execute(org, "get_connector_action_logs", {**window(day("2025-05-01"), 31), "limit": 1000})
    assert len(reply.entries or []) == 1000 and reply.next_cursor
    assert org.cached_entries < 40_000  # a day or two generated, not the ~1M of the history
    assert time.perf_counter() - started < 5.0  # generous: the machine may be busy
    for i in range(10):  # touch ten days: the cache stays within its budget
        org.log_block("connector_action_logs", (day("2025-04-01") + timedelta(days=i)).date())
    assert org.cached_entries <= config.cache_entries


def test_entries_carry_the_fields_the_notes_list() -> None:
    org = Org(small_config())
    sample = {s: list(org.log_entries(s, START, END)) for s in LOG_STREAMS}
    assert all(sample.values())
    assert all("projectId" not in e and {"authorId", "event"} <= set(e) for e in sample["organization_action_logs"])
    assert all({"projectId", "authorId", "event"} <= set(e) for e in sample["project_action_logs"])
    assert all({"projectId", "email", "status"} <= set(e) for e in sample["auth_attempt_logs"])
    assert {e["status"] for e in sample["auth_attempt_logs"]} > {"success"}
    kinds = {e["kind"] for e in sample["email_notification_logs"]}
    assert "received" in kinds and any(k.endswith(":mock") for k in kinds)
    for stream, extra in (("connector_action_logs", "connectorName"), ("ai_prompt_logs", "model")):
        assert all({"projectId", "source", "errored", extra} <= set(e) for e in sample[stream])
        assert {e["source"] for e in sample[stream]} == {"app", "editor", "ai", "api"}
    for entries in sample.values():
        assert all(len(e["createdAt"]) == 24 and e["createdAt"].endswith("Z") for e in entries)
    stamps = [e["createdAt"] for entries in sample.values() for e in entries]
    assert any(s.endswith("T00:00:00.000Z") for s in stamps)


def test_project_ids_sort_unlike_creation_order() -> None:
    org = Org(SimConfig())
    ids = [p.id for p in org.projects]  # creation order
    assert ids != sorted(ids) and len(set(ids)) == 12
    created = [p.created_at for p in org.projects]
    assert created == sorted(created) and created[-1] < "2025-03-03"


def test_removed_projects_and_members_leave_history_alone() -> None:
    org = Org(small_config())
    before = list(org.log_entries("project_action_logs", START, END))
    org.remove_project(org.projects[0].id)
    org.remove_member(org.members()[0]["email"])
    assert list(org.log_entries("project_action_logs", START, END)) == before
    assert len(org.projects) == 4 and len(org.members()) == 7


def test_ground_truth_dump(tmp_path: Path) -> None:
    org = Org(small_config())
    path = tmp_path / "truth.jsonl"
    count = org.dump_ground_truth(path, START, END)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(lines) == count
    kinds = {line["kind"] for line in lines}
    assert {"log", "execution", "consumption", "organization", "members", "inventory"} <= kinds
    logs = sum(1 for line in lines if line["kind"] == "log")
    assert logs == sum(len(list(org.log_entries(s, START, END))) for s in LOG_STREAMS)
    assert sum(1 for line in lines if line["kind"] == "consumption") == 3 * 5


def test_config_refuses_unknown_streams_and_fills_start() -> None:
    with pytest.raises(ValueError, match="unknown log stream"):
        SimConfig(events_per_day={"chat_logs": 3})
    config = SimConfig(events_per_day={"ai_prompt_logs": 1})
    assert config.history_start == config.end - timedelta(days=90)
    assert config.events_per_day["connector_action_logs"] == 300


def test_run_in_thread_serves_a_synchronous_caller() -> None:
    with run_in_thread(small_config()) as handle:
        handle.sim.inject("email_notification_logs", 2, created_at=START)

        async def fetch() -> int:
            async with aiohttp.ClientSession() as session:
                entries, _ = await page_all(session, handle.endpoint, "get_email_notification_logs", window(START, 1))
                status, _ = await call(session, handle.endpoint, "get_members")
                assert status == 200
                return len(entries)

        served = asyncio.run(fetch())
        end = START + timedelta(days=1, milliseconds=1)
        assert served == len(list(handle.sim.org.log_entries("email_notification_logs", START, end)))
        assert handle.sim.stats["requests"] >= 2


def test_public_names_are_exported_on_purpose() -> None:
    assert sorted(simulator.__all__) == sorted(
        name for name in vars(simulator) if not name.startswith("_") and name not in {"annotations"}
        and not isinstance(getattr(simulator, name), type(simulator))
    )
