"""Fixtures: a simulated API on loopback and settings pointing the harvester at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from harvester.config import (
    AbstraSettings,
    HarvestSettings,
    Settings,
    WarehouseSettings,
)
from harvester.simulator import ServerHandle, SimConfig, run_in_thread

START = datetime(2025, 1, 1, tzinfo=UTC)

SimFactory = Callable[..., ServerHandle]


@pytest.fixture
def simulator() -> Iterator[SimFactory]:
    """`simulator(**SimConfig fields)` starts one on 127.0.0.1; stopped after the test."""
    with ExitStack() as stack:
        yield lambda **config: stack.enter_context(run_in_thread(SimConfig(**config)))


def make_settings(server: ServerHandle, path: Path, *, token: str | None = None, **harvest: Any) -> Settings:
    abstra: dict[str, Any] = {"max_retries": harvest.pop("max_retries", 8)}
    abstra.update(harvest.pop("abstra", {}))
    return Settings(
        abstra=AbstraSettings(
            endpoint=server.endpoint,
            token=SecretStr(token if token is not None else server.sim.config.token),
            **abstra,
        ),
        harvest=HarvestSettings(**{"start": START, "page_size": 500, "concurrency": 8, **harvest}),
        warehouse=WarehouseSettings(duckdb=path),
    )


def write_config(server: ServerHandle, folder: Path, **harvest: Any) -> Path:
    """A TOML config for CLI tests (the token goes in the environment, never here)."""
    lines = ["[abstra]", f'endpoint = "{server.endpoint}"', "max_retries = 8", "[harvest]", 'start = "2025-01-01"']
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in harvest.items()]
    lines += ["[warehouse]", 'duckdb = "warehouse.duckdb"']
    path = folder / "harvester.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
