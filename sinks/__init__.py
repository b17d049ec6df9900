"""The warehouse: harvested tables and harvest state in one DuckDB file."""

from .connection import parse_size
from .duckdb_sink import DEFAULT_MEMORY_LIMIT, Warehouse
from .schema import REJECTS_TABLE, ensure_schema
from .status import READ_ONLY_STATEMENTS

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "READ_ONLY_STATEMENTS",
    "REJECTS_TABLE",
    "Warehouse",
    "ensure_schema",
    "parse_size",
]
