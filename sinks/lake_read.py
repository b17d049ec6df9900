"""Reading the lake back through DuckDB: what `harvester sql --lake` runs.

Views read the files the manifests list, never a directory listing, so a query sees
one consistent version of every partition even while a sync runs.

The connection is sealed like the warehouse's (see `sinks.connection`): the files are
handed to DuckDB as Arrow datasets, so SQL itself may open no file at all (an allowed
path could be written, e.g. by `COPY ... TO`), cannot ATTACH the warehouse, and spills
only into a private temporary folder, removed on close, up to the spill limit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow.dataset as ds

from state.errors import SinkError

from .connection import DEFAULT_SPILL_LIMIT, connect, seal, sealed_settings
from .duckdb_sink import DEFAULT_MEMORY_LIMIT
from .lake_fs import LakeFS
from .lake_manifest import Manifest, ManifestError
from .lake_schema import LakeTable
from .schema import quote_ident
from .status import run_read_only

__all__ = ["lake_connection", "query_lake"]


@contextmanager
def lake_connection(
    root: str, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_limit: str = DEFAULT_SPILL_LIMIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sealed in-memory DuckDB connection with one view per table over the lake's current files.

    The views read the files the manifests list (never a directory listing), so they
    see one consistent version of each partition, and have the warehouse's columns and
    types (JSON columns cast back to JSON), so the warehouse's SQL runs unchanged.
    Every lake, local or remote, is read through `pyarrow.dataset` (DuckDB's httpfs
    extension is not needed, and DuckDB itself is given no file access).
    """
    lake = LakeFS.open(root, create=False)
    with tempfile.TemporaryDirectory(prefix="harvester-lake-sql-") as spill:
        settings = {**sealed_settings(spill_limit), "temp_directory": spill}
        con = connect(":memory:", read_only=False, memory_limit=memory_limit, threads=None, extra=settings)
        try:
            _create_views(con, lake)
            seal(con)
            yield con
        finally:
            con.close()


def _create_views(con: duckdb.DuckDBPyConnection, lake: LakeFS) -> None:
    """One view per table the lake holds, with the columns its manifest records."""
    for name in lake.tables():
        try:
            manifest = lake.read_manifest(name) or Manifest(name)
        except ManifestError as exc:
            raise SinkError(
                f"{lake.display(name)}: the manifest is not readable ({exc}); run `harvester export --full`"
            ) from exc
        spec = LakeTable(name, manifest.columns, (), None, (), "")
        paths = [lake.path(name, key, f) for key, s in sorted(manifest.partitions.items()) for f in s.files]
        _create_view(con, lake, spec, paths)


def _create_view(con: duckdb.DuckDBPyConnection, lake: LakeFS, spec: LakeTable, paths: list[str]) -> None:
    view = quote_ident(spec.name)
    if not paths:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {quote_ident(c)}" for c, t in spec.columns)
        con.execute(f"CREATE VIEW {view} AS SELECT {nulls} WHERE false")
        return
    columns = ", ".join(
        f"CAST({quote_ident(c)} AS JSON) AS {quote_ident(c)}" if t == "JSON" else quote_ident(c)
        for c, t in spec.columns
    )
    source = f"_lake_{spec.name}"
    con.register(source, ds.dataset(paths, schema=spec.schema, format="parquet", filesystem=lake.fs))
    con.execute(f"CREATE VIEW {view} AS SELECT {columns} FROM {quote_ident(source)}")


def query_lake(
    root: str, sql: str, *, max_rows: int | None = None, spill_limit: str = DEFAULT_SPILL_LIMIT
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query (SELECT, EXPLAIN, PRAGMA) over the lake; return column names and rows."""
    with lake_connection(root, spill_limit=spill_limit) as con:
        return run_read_only(con, sql, max_rows, where=root)
