"""Reading the lake back through DuckDB: what `harvester sql --lake` runs.

Views read the files the manifests list, never a directory listing, so a query sees
one consistent version of every partition even while a sync runs.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow.dataset as ds

from state.errors import SinkError

from .duckdb_sink import DEFAULT_MEMORY_LIMIT, parse_size
from .lake_fs import LakeFS
from .lake_manifest import Manifest, ManifestError
from .lake_schema import LakeTable
from .schema import quote_ident
from .status import run_read_only

__all__ = ["lake_connection", "query_lake"]


def lake_connection(root: str, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per table over the lake's current files.

    The views read the files the manifests list (never a directory listing), so they
    see one consistent version of each partition, and have the warehouse's columns and
    types (JSON columns cast back to JSON), so the warehouse's SQL runs unchanged.
    Local lakes are read by DuckDB's own Parquet reader; remote ones through
    `pyarrow.dataset` (DuckDB's httpfs extension is not needed).
    """
    lake = LakeFS.open(root, create=False)
    con = duckdb.connect(":memory:", config={"memory_limit": f"{parse_size(memory_limit)}B"})
    try:
        con.execute("SET TimeZone = 'UTC'")
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
    except BaseException:
        con.close()
        raise
    return con


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
    if lake.local:
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        source = f"read_parquet([{files}])"
    else:
        source = quote_ident(f"_lake_{spec.name}")
        con.register(f"_lake_{spec.name}", ds.dataset(paths, schema=spec.schema, format="parquet", filesystem=lake.fs))
    con.execute(f"CREATE VIEW {view} AS SELECT {columns} FROM {source}")


def query_lake(root: str, sql: str, *, max_rows: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query (SELECT, EXPLAIN, PRAGMA) over the lake; return column names and rows."""
    con = lake_connection(root)
    try:
        return run_read_only(con, sql, max_rows)
    finally:
        con.close()
