"""abstra-harvester: Abstra Manager audit logs, executions and consumption → DuckDB.

The library surface is small: build `Settings` (or `load_settings`), then call
`harvest(settings, Backfill(...) | Incremental())`. The CLI (`harvester.cli`) is a thin
shell over it. Names are loaded on first use, so `sinks` and `state` can import
`harvester.errors` without pulling in the runner (which imports them).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Backfill",
    "ExitCode",
    "HarvestError",
    "Incremental",
    "RunReport",
    "Settings",
    "harvest",
    "load_settings",
]
__version__ = "0.1.0"

_HOMES = {
    "Backfill": "runner",
    "Incremental": "runner",
    "RunReport": "runner",
    "harvest": "runner",
    "ExitCode": "errors",
    "HarvestError": "errors",
    "Settings": "config",
    "load_settings": "config",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'harvester' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
