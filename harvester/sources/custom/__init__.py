"""Custom streams (seed 002): any HTTP API behind an Abstra connection, declared in config.

A `[[custom]]` entry names a connection, a URL and where the records, ids, times
and next pages are in the replies; each page is one call of the connector's
`custom` action through the same `execute` endpoint and token as the Manager
actions. The pieces here are pure, so the runner only loops:

    config.py    the `[[custom]]` contract, validated before anything is fetched
    ssrf.py      the rule that keeps a URL off non-routable addresses
    request.py   stream + page + window → the action's `parameters` (and back)
    paging.py    none | cursor | page | offset | next_url, as state with guards
    records.py   reply → records → rows of `custom_<name>` or rejects
    fetch.py     one stream's chain of pages, each a `custom` call; its errors
    source.py    the streams as a source: windowed ones planned, the others read whole

`harvester.config` imports `config.py` at every start; the names below load their
module on first use, so the rest costs nothing until a run or `call --custom` needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

# name → the module defining it
_HOMES = {
    "CustomStream": "config", "validate_streams": "config",
    "Paging": "paging", "paging_for": "paging",
    "ReplyShapeError": "records", "custom_table": "records", "format_window": "records",
    "page_records": "records", "record_row": "records",
    "CustomCall": "request", "CustomRequestError": "request", "HttpRequest": "request",
    "build_parameters": "request", "resolve": "request",
    "SsrfError": "ssrf", "check_url": "ssrf",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
