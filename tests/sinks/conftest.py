"""Fixtures for the warehouse tests: a fresh read-write warehouse in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.sources.abstra.streams import TABLES as _ABSTRA_TABLES
from sinks import Warehouse

ABSTRA_TABLES = tuple(_ABSTRA_TABLES.values())


@pytest.fixture
def wh_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def warehouse(wh_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(wh_path, ABSTRA_TABLES) as wh:
        yield wh
