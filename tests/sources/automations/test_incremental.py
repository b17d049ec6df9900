"""Which automations an incremental run re-reads: only those whose update_time moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harvester.sources.automations.incremental import automations_to_reread

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def test_first_run_and_full_reread_everything_in_listed_order() -> None:
    listed = {"b": T0, "a": T0 - timedelta(hours=1)}
    assert automations_to_reread(listed, None) == ["b", "a"]
    assert automations_to_reread(listed, {}) == ["b", "a"]
    assert automations_to_reread(listed, dict(listed), full=True) == ["b", "a"]


def test_only_moved_new_or_timeless_automations_are_reread() -> None:
    previous = {"same": T0, "moved": T0, "back": T0, "gone": T0, "was_null": None, "now_null": T0}
    listed = {
        "new": T0,
        "moved": T0 + timedelta(milliseconds=1),
        "same": T0.astimezone(),  # the same instant in another zone is not a change
        "back": T0 - timedelta(days=1),  # a restore can move update_time back
        "was_null": T0,
        "now_null": None,
    }
    assert automations_to_reread(listed, previous) == ["new", "moved", "back", "was_null", "now_null"]


def test_nothing_moved_means_nothing_to_reread() -> None:
    state = {"a": T0, "b": T0 + timedelta(seconds=1)}
    assert automations_to_reread(state, dict(state)) == []
