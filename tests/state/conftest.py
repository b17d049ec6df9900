"""Fixtures for the state tests: a fresh warehouse, whose transactions the state functions run in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sinks import Warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(tmp_path / "warehouse.duckdb") as wh:
        yield wh
