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
"""

from __future__ import annotations

from .config import CustomStream, validate_streams
from .paging import Paging, paging_for
from .records import (
    ReplyShapeError,
    custom_table,
    format_window,
    page_records,
    record_row,
)
from .request import (
    CustomCall,
    CustomRequestError,
    HttpRequest,
    build_parameters,
    resolve,
)
from .ssrf import SsrfError, check_url

__all__ = [
    "CustomCall",
    "CustomRequestError",
    "CustomStream",
    "HttpRequest",
    "Paging",
    "ReplyShapeError",
    "SsrfError",
    "build_parameters",
    "check_url",
    "custom_table",
    "format_window",
    "page_records",
    "paging_for",
    "record_row",
    "resolve",
    "validate_streams",
]
