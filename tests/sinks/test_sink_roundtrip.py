"""Property: whatever rows go in (any unicode, nested JSON, NULLs, duplicate ids)
come back exactly, with the table's dedupe rule applied."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.pages import Checkpoint, PageWrite, SnapshotWrite
from harvester.planner import Partition
from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from harvester.timeutil import format_wire
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PARTITION = Partition("auth_attempt_logs", T0, T0 + timedelta(days=31))
LOG_COLUMNS = (
    "id", "created_at", "project_id", "author_id", "event", "email", "status", "kind", "source", "errored", "raw"
)

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
maybe_text = st.none() | text
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
    max_leaves=20,
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))])
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones)
# Timestamps arrive as aware datetimes or as the API's wire strings.
timestamps = instants | instants.map(format_wire)

log_rows = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "ü\x00", "𝄞"]) | text,
        "created_at": timestamps,
        "project_id": maybe_text,
        "author_id": maybe_text,
        "event": maybe_text,
        "email": maybe_text,
        "status": maybe_text,
        "kind": maybe_text,
        "source": maybe_text,
        "errored": st.none() | st.booleans(),
        "raw": json_values,
    }
)


def as_instant(value: datetime | str) -> datetime:
    return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).astimezone(UTC)


def expected_row(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(as_instant(row[c]) if c == "created_at" else row[c] for c in LOG_COLUMNS)


def stored_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:-1], None if row[-1] is None else orjson.loads(row[-1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(st.lists(log_rows, max_size=8), min_size=1, max_size=4), one_commit=st.booleans())
def test_log_rows_round_trip_and_the_first_copy_wins(pages: list[list[dict[str, Any]]], one_commit: bool) -> None:
    """A log entry is immutable: every copy of an id carries its first createdAt."""
    created: dict[str, Any] = {}
    for rows in pages:
        for row in rows:
            row["created_at"] = created.setdefault(row["id"], row["created_at"])
    writes = [
        PageWrite(PARTITION, "auth_attempt_logs", rows, Checkpoint(PARTITION.key, cursor=str(n), pages=n + 1))
        for n, rows in enumerate(pages)
    ]
    first: dict[str, tuple[Any, ...]] = {}
    for rows in pages:
        for row in rows:
            first.setdefault(row["id"], expected_row(row))
    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(Path(tmp) / "w.duckdb", ABSTRA_TABLES) as wh:
        for batch in [writes] if one_commit else [[w] for w in writes]:
            wh.commit_pages(batch)
        stored = wh._connection().execute(f"SELECT {', '.join(LOG_COLUMNS)} FROM auth_attempt_logs").fetchall()
        cursor = wh._connection().execute("SELECT cursor FROM _partitions").fetchall()
    assert sorted(map(stored_row, stored), key=repr) == sorted(first.values(), key=repr)
    assert cursor == [(str(len(pages) - 1),)]


form_rows = st.fixed_dictionaries(
    {
        "project_id": st.just("p1"),
        "id": st.sampled_from(["f1", "f2", "f3"]) | text,
        "stage_kind": maybe_text,
        "title": maybe_text,
        "path": maybe_text,
        "is_public": st.none() | st.booleans(),
        "required_roles": json_values,
        "raw": json_values,
    }
)
FORM_COLUMNS = ("project_id", "id", "stage_kind", "title", "path", "is_public", "required_roles", "raw")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots=st.lists(st.lists(form_rows, max_size=6), min_size=1, max_size=3))
def test_snapshot_rows_round_trip_and_track_presence(snapshots: list[list[dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(Path(tmp) / "w.duckdb", ABSTRA_TABLES) as wh:
        for n, rows in enumerate(snapshots):
            wh.commit_snapshot(SnapshotWrite("project_forms_and_pages", "p1", rows, T0 + timedelta(hours=n)))
        stored = wh._connection().execute(
            f"SELECT {', '.join(FORM_COLUMNS)}, removed_at FROM project_forms_and_pages"
        ).fetchall()
    last = {row["id"]: row for rows in snapshots for row in rows}  # newest copy of every key ever seen
    current = {row["id"] for row in snapshots[-1]}
    final_at = T0 + timedelta(hours=len(snapshots) - 1)
    got = {r[1]: r for r in stored}
    assert set(got) == set(last)
    for key, row in got.items():
        *values, removed_at = row
        decoded = [None if v is None else orjson.loads(v) if c in ("required_roles", "raw") else v
                   for c, v in zip(FORM_COLUMNS, values, strict=True)]
        assert decoded == [last[key][c] for c in FORM_COLUMNS]
        assert (removed_at is None) == (key in current)
        assert removed_at is None or removed_at <= final_at
