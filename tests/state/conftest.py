"""Fixtures for the state tests: a fresh warehouse, whose transactions the state functions run in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(tmp_path / "warehouse.duckdb", ABSTRA_TABLES) as wh:
        yield wh
