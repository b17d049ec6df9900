"""The pure parts of the lake: partition names, the manifest, the rewrite plan, safe paths."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.errors import SinkError
from sinks.lake_fs import LakeFS, is_table_name
from sinks.lake_manifest import (
    FLAT,
    NULL_DAY,
    Manifest,
    ManifestError,
    PartitionState,
    Summary,
    day_partition,
    is_partition,
    partition_day,
    plan_partitions,
)

days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
keys = st.one_of(st.just(FLAT), st.just(NULL_DAY), days.map(day_partition))
summaries = st.builds(Summary, st.integers(0, 5), st.sampled_from(["a", "b"]))
states = st.builds(
    PartitionState,
    st.sampled_from([("part.parquet",), ("part-" + "0" * 32 + ".parquet",)]),
    st.integers(0, 5),
    st.sampled_from(["a", "b"]),
)


@given(days)
def test_a_day_partition_names_its_day_and_nothing_else(day: date) -> None:
    name = day_partition(day)
    assert partition_day(name) == day and is_partition(name)
    assert name.count("/") == 0 and len(name) == len("date=YYYY-MM-DD")


@given(st.text())
def test_only_names_the_lake_writes_are_partitions(text: str) -> None:
    if is_partition(text):
        assert text in (FLAT, NULL_DAY) or day_partition(partition_day(text)) == text


@given(st.dictionaries(keys, states, max_size=6))
def test_a_manifest_round_trips_through_its_json(parts: dict[str, PartitionState]) -> None:
    manifest = Manifest("executions", parts, (("id", "VARCHAR"),), "2025-01-01T00:00:00.000000+00:00")
    assert Manifest.from_json("executions", manifest.to_json()) == manifest


@pytest.mark.parametrize(
    ("partition", "name"),
    [
        ("date=2025-01-01", "../../victim.parquet"),
        ("date=2025-01-01", "/etc/passwd"),
        ("date=2025-01-01", "part.parquet/../../x"),
        ("../../etc", "part.parquet"),
        ("date=2025-13-01", "part.parquet"),
        ("date=2025-01-01/..", "part.parquet"),
    ],
)
def test_a_manifest_naming_anything_the_lake_does_not_write_is_refused(partition: str, name: str) -> None:
    doc = Manifest("executions", {partition: PartitionState((name,), 1, "f")}).to_json()
    with pytest.raises(ManifestError):
        Manifest.from_json("executions", doc)


def test_a_manifest_of_another_table_or_format_is_refused() -> None:
    doc = Manifest("executions").to_json()
    for table, data in (("members", doc), ("executions", b"{}"), ("executions", b"not json")):
        with pytest.raises(ManifestError):
            Manifest.from_json(table, data)


@given(
    st.dictionaries(keys, summaries, max_size=6),
    st.dictionaries(keys, states, max_size=6),
    st.sets(keys, max_size=3),
    st.booleans(),
)
def test_the_plan_rewrites_exactly_what_differs_and_drops_what_is_gone(
    current: dict[str, Summary], recorded: dict[str, PartitionState], forced: set[str], files_present: bool
) -> None:
    manifest = Manifest("executions", recorded)
    present = manifest.files() if files_present else set()
    plan = plan_partitions(current, manifest, present, lambda key: key in forced)
    for key, summary in current.items():
        state = recorded.get(key)
        same = state is not None and state.matches(summary) and files_present
        assert (key in plan.rewrite) == (not same or key in forced), key
    assert set(plan.drop) == set(recorded) - set(current)
    assert not set(plan.drop) & set(plan.rewrite)


@given(st.text(max_size=30), st.text(max_size=30))
def test_no_path_segment_is_other_than_a_table_name_and_a_day(table: str, partition: str) -> None:
    lake = LakeFS(pafs.LocalFileSystem(), "/srv/lake", "/srv/lake")
    if is_table_name(table) and is_partition(partition):
        path = lake.path(table, partition, "part.parquet")
        assert ".." not in Path(path).parts and path.startswith(lake.base + "/" + table)
    else:
        with pytest.raises(SinkError, match="refusing"):
            lake.path(table, partition, "part.parquet")
