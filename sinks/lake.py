"""A deduplicated Parquet lake mirrored from the warehouse, readable by any engine.

    <root>/<table>/date=YYYY-MM-DD/part….parquet   event tables and executions (UTC day of
                                                   created_at), consumption (period_start)
    <root>/<table>/part….parquet                   snapshot tables and _rejects
    <root>/<table>/_manifest.json                  current files, row counts, fingerprints

The warehouse is the source of truth and already deduplicated, so the lake holds
exactly its rows: each partition is written from one query filtered on that partition,
streamed in record batches regrouped into 128k-row row groups, never a whole table in
memory. A sync asks the warehouse for a per-partition summary (rows, a fingerprint of
keys and `harvested_at`), compares it with the manifest and rewrites only partitions
that changed; `full`, `since` and `until` force a range on top (`harvester export`).

Order of a partition's rewrite: write the new file (hidden temp name, then moved into
place: see `lake_fs`), write the manifest, delete the old file. A sync killed at any
point leaves every partition readable as its old or its new version plus, on object
stores, at most one unlisted file; the next sync deletes files the manifest does not
list and rewrites what still differs.

Reading it back: `lake_connection` / `query_lake` (in `lake_read`, re-exported here).

Run one mirror per lake at a time (the CLI holds the warehouse's run lock), and never
while the warehouse is open for writing in the same process: DuckDB refuses a
read-only connection beside a read-write one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from state.errors import ConfigError, RunLockedError, SinkError

from .catalog import load_catalog
from .duckdb_sink import DEFAULT_MEMORY_LIMIT, parse_size
from .lake_fs import LakeFS
from .lake_manifest import (
    FLAT,
    Manifest,
    ManifestError,
    PartitionState,
    Summary,
    day_bounds,
    day_partition,
    partition_day,
    plan_partitions,
)
from .lake_read import lake_connection, query_lake
from .lake_schema import LakeTable, lake_table, lake_tables
from .schema import existing_tables, quote_ident

__all__ = ["ROW_GROUP_ROWS", "LakeTable", "lake_connection", "lake_table", "lake_tables", "mirror", "query_lake"]

log = structlog.get_logger("harvester.lake")

ROW_GROUP_ROWS = 128 * 1024  # rows per Parquet row group (DuckDB's own default is 120k)
FETCH_ROWS = 32 * 1024  # rows per batch streamed from DuckDB
_PARQUET: dict[str, Any] = {"compression": "zstd", "write_statistics": True, "version": "2.6"}


# ---- mirroring ------------------------------------------------------------------------


def mirror(
    warehouse_path: Path,
    root: str,
    *,
    tables: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    full: bool = False,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> dict[str, int]:
    """Bring the lake at `root` in line with the warehouse; return partitions rewritten per table.

    Partitions whose rows changed since the last sync are rewritten, and gone ones
    dropped. `full` rewrites every partition of `tables`; `since`/`until` (`[since,
    until)`, dates are UTC midnights) also rewrite every day partition overlapping
    that range, plus the snapshot tables. Raises SinkError (storage, warehouse),
    ConfigError (bad table, range or root), RunLockedError (warehouse open for writing).
    """
    forced = _forcing(full, since, until)
    lake = LakeFS.open(root)
    rewritten: dict[str, int] = {}
    started = time.perf_counter()
    with _warehouse(Path(warehouse_path), memory_limit) as con:
        present = existing_tables(con)
        for spec in _chosen(lake_tables(load_catalog(con).values()), tables):
            with structlog.contextvars.bound_contextvars(table=spec.name):
                rewritten[spec.name] = _mirror_table(con, lake, spec, present.get(spec.name, set()), forced)
    log.info(
        "lake.mirror", root=root, partitions=sum(rewritten.values()), seconds=round(time.perf_counter() - started, 3)
    )
    return rewritten


def _chosen(layouts: dict[str, LakeTable], names: Sequence[str] | None) -> list[LakeTable]:
    """The layouts of `names` (None: every table the warehouse records, and `_rejects`)."""
    unknown = [n for n in names or () if n not in layouts]
    if unknown:
        raise ConfigError(f"unknown table {unknown[0]!r}: choose from {', '.join(layouts)}")
    return [layouts[n] for n in dict.fromkeys(names or layouts)]


def _mirror_table(
    con: duckdb.DuckDBPyConnection, lake: LakeFS, spec: LakeTable, have: set[str], forced: Callable[[str], bool]
) -> int:
    started = time.perf_counter()
    manifest, trusted = _load_manifest(lake, spec)
    data, temp = lake.list_files(spec.name)
    if trusted:  # leftovers of a killed sync: files no manifest lists
        lake.delete_files(spec.name, (data - manifest.files()) | temp)
        data &= manifest.files()
    current = _summarise(con, spec, have) if have else {}
    plan = plan_partitions(current, manifest, data, forced)
    for key in plan.drop:
        old = manifest.partitions[key]
        manifest = manifest.with_partition(key, None)
        lake.write_manifest(manifest)
        lake.delete_files(spec.name, [(key, name) for name in old.files])
    rows = 0
    for key in plan.rewrite:
        manifest, written = _rewrite_partition(con, lake, spec, key, current[key], manifest, have)
        rows += written
    manifest = replace(manifest, columns=spec.columns, synced_at=_iso(datetime.now(UTC)))
    lake.write_manifest(manifest)
    data, temp = lake.list_files(spec.name)
    lake.delete_files(spec.name, (data - manifest.files()) | temp)
    (log.info if plan.rewrite or plan.drop else log.debug)(
        "lake.table",
        rewritten=len(plan.rewrite),
        dropped=len(plan.drop),
        rows=rows,
        partitions=len(manifest.partitions),
        seconds=round(time.perf_counter() - started, 3),
    )
    return len(plan.rewrite)


def _rewrite_partition(
    con: duckdb.DuckDBPyConnection,
    lake: LakeFS,
    spec: LakeTable,
    key: str,
    summary: Summary,
    manifest: Manifest,
    have: set[str],
) -> tuple[Manifest, int]:
    """New file, then the manifest naming it, then the old file gone; return the new manifest."""
    name, written = _write_partition(con, lake, spec, key, have)
    if written != summary.rows:
        raise SinkError(
            f"{lake.display(spec.name, key)}: wrote {written} rows, the warehouse summary said {summary.rows}"
        )
    old = manifest.partitions.get(key)
    manifest = manifest.with_partition(key, PartitionState((name,), written, summary.fingerprint, _iso(summary.newest)))
    lake.write_manifest(manifest)
    if old is not None:
        lake.delete_files(spec.name, [(key, f) for f in old.files if f != name])
    log.debug("lake.partition", partition=key or "(flat)", rows=written)
    return manifest, written


def _load_manifest(lake: LakeFS, spec: LakeTable) -> tuple[Manifest, bool]:
    """The stored manifest and whether it can be trusted to name the lake's files."""
    try:
        manifest = lake.read_manifest(spec.name)
    except ManifestError as exc:
        log.warning("lake.manifest_ignored", reason=str(exc), action="rebuilding the table")
        return Manifest(spec.name), False
    return (manifest, True) if manifest is not None else (Manifest(spec.name), False)


def _summarise(con: duckdb.DuckDBPyConnection, spec: LakeTable, have: set[str]) -> dict[str, Summary]:
    """Per partition: rows, fingerprint and newest stamp, in one aggregate over the table."""
    newest = quote_ident(spec.newest) if spec.newest in have else "NULL"
    measures = f"count(*), bit_xor({_row_hash([c for c in spec.fingerprint if c in have])}), max({newest})"
    table = quote_ident(spec.name)
    if spec.day_column is None:
        row = _fetch(con, f"SELECT {measures} FROM {table}")[0]
        return {FLAT: Summary(int(row[0]), _hex(row[1]), row[2])} if row[0] else {}
    column = quote_ident(spec.day_column)
    is_date = dict(spec.columns).get(spec.day_column) == "DATE"
    day = column if is_date else f"CAST(timezone('UTC', {column}) AS DATE)"
    rows = _fetch(con, f"SELECT {day} AS day, {measures} FROM {table} GROUP BY day")
    return {day_partition(d): Summary(int(n), _hex(fp), newest) for d, n, fp, newest in rows}


def _row_hash(columns: Sequence[str]) -> str:
    """A per-row hash that XOR-aggregates safely.

    DuckDB's `hash(a, b)` combines linearly, so in `bit_xor(hash(id, harvested_at))`
    a stamp shared by an even number of rows cancels out and a re-harvested partition
    would look unchanged. Re-hashing after each step makes the combination non-linear.
    """
    expr = "hash(NULL)"
    for column in columns:
        expr = f"hash(xor({expr}, hash({quote_ident(column)})))"
    return expr


def _write_partition(
    con: duckdb.DuckDBPyConnection, lake: LakeFS, spec: LakeTable, key: str, have: set[str]
) -> tuple[str, int]:
    """Stream one partition's rows from DuckDB into one Parquet file; return its name and rows."""
    sql, params = _partition_query(spec, key, have)
    schema = spec.schema
    name = lake.new_file_name()
    written = 0
    try:
        reader = _arrow_reader(con.sql(sql, params=params))
        with lake.publishing(spec.name, key, name) as sink, pq.ParquetWriter(sink, schema, **_PARQUET) as writer:
            for chunk in _row_groups(reader):
                if chunk.schema != schema:  # e.g. a DuckDB that labels the time zone differently
                    chunk = chunk.cast(schema)
                writer.write_table(chunk, row_group_size=ROW_GROUP_ROWS)
                written += chunk.num_rows
    except (duckdb.Error, pa.ArrowException) as exc:
        raise SinkError(f"writing {lake.display(spec.name, key)} failed: {_one_line(exc)}") from exc
    return name, written


def _partition_query(spec: LakeTable, key: str, have: set[str]) -> tuple[str, dict[str, Any]]:
    """The partition's rows, unsorted: an ORDER BY would make DuckDB materialise (and,
    under a small memory_limit on a read-only file, fail on) a big day, while a
    filtered scan streams in constant memory. Readers prune on the day partition and
    on row-group statistics."""
    select = ", ".join(_select_column(c, t, have) for c, t in spec.columns)
    sql = f"SELECT {select} FROM {quote_ident(spec.name)}"
    params: dict[str, Any] = {}
    if spec.day_column is not None:
        column = quote_ident(spec.day_column)
        day = partition_day(key)
        if day is None:
            sql += f" WHERE {column} IS NULL"
        else:
            start, end = day_bounds(day)
            sql += f" WHERE {column} >= $start" + (f" AND {column} < $end" if end else "")
            params = {"start": start, **({"end": end} if end else {})}
    return sql, params


def _select_column(name: str, sql_type: str, have: set[str]) -> str:
    target = "VARCHAR" if sql_type == "JSON" else sql_type
    source = quote_ident(name) if name in have else "NULL"
    if source != "NULL" and target == sql_type:
        return source
    return f"CAST({source} AS {target}) AS {quote_ident(name)}"


def _arrow_reader(relation: duckdb.DuckDBPyRelation) -> pa.RecordBatchReader:
    """A streaming reader of FETCH_ROWS-row batches (DuckDB >= 1.4 spells it `to_arrow_reader`)."""
    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    reader: pa.RecordBatchReader = to_reader(FETCH_ROWS)
    return reader


def _row_groups(reader: pa.RecordBatchReader) -> Iterator[pa.Table]:
    """Small fetched batches regrouped into tables of exactly ROW_GROUP_ROWS rows (the last
    one shorter), each written as one row group.

    Fetching small and regrouping (zero-copy slices) costs less peak memory than asking
    DuckDB for one big batch, which it assembles from its own chunks before converting.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= ROW_GROUP_ROWS:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield table.slice(0, ROW_GROUP_ROWS)
            rest = table.slice(ROW_GROUP_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending, schema=reader.schema)


def _forcing(full: bool, since: date | datetime | None, until: date | datetime | None) -> Callable[[str], bool]:
    """Which partitions to rewrite whatever the manifest says."""
    if full:
        return lambda key: True
    if since is None and until is None:
        return lambda key: False
    lo, hi = _instant(since), _instant(until)
    if lo is not None and hi is not None and lo >= hi:
        raise ConfigError(f"since {lo.isoformat()} is not before until {hi.isoformat()}")

    def forced(key: str) -> bool:
        if key == FLAT:
            return True
        day = partition_day(key)
        if day is None:
            return False
        start, end = day_bounds(day)
        return (hi is None or start < hi) and (lo is None or end is None or end > lo)

    return forced


def _instant(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def _warehouse(path: Path, memory_limit: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in a UTC session, spilling (if ever needed) to a private temp folder."""
    if not path.is_file():
        raise SinkError(f"no warehouse at {path}: run `harvester run` or `harvester backfill` first")
    with tempfile.TemporaryDirectory(prefix="harvester-lake-") as spill:
        config = {
            "memory_limit": f"{parse_size(memory_limit)}B",
            "preserve_insertion_order": False,
            "temp_directory": spill,
        }
        try:
            con = duckdb.connect(str(path), read_only=True, config=config)
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():
                raise RunLockedError(f"the warehouse {path} is open for writing (a harvester run?)") from exc
            raise SinkError(f"cannot open the warehouse {path}: {_one_line(exc)}") from exc
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        except duckdb.Error as exc:
            raise SinkError(f"reading the warehouse {path} failed: {_one_line(exc)}") from exc
        finally:
            con.close()


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _hex(value: int | None) -> str:
    return format(int(value or 0), "016x")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
