"""The lake on a real S3-compatible server (moto's server mode, on 127.0.0.1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest

from sinks import Warehouse
from sinks.lake import mirror, query_lake
from tests.lake.conftest import LAKE_TABLES

from .conftest import (
    assert_same_rows,
    harvest_backfill,
    lake_rows_pyarrow,
    warehouse_rows,
)

moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")

BUCKET = "harvest-lake"


@pytest.fixture
def s3(clean_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[pafs.S3FileSystem]:
    """A moto S3 server on a free loopback port, the AWS variables pointing at it, one bucket."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        fs = pafs.S3FileSystem(
            endpoint_override=f"{host}:{port}",
            scheme="http",
            region="us-east-1",
            access_key="testing",
            secret_key="testing",
            allow_bucket_creation=True,
        )
        fs.create_dir(BUCKET)
        yield fs
    finally:
        server.stop()


def _objects(fs: pafs.S3FileSystem, prefix: str) -> set[str]:
    infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return {i.path[len(prefix) + 1 :] for i in infos if i.type == pafs.FileType.File}


def test_the_lake_on_s3_equals_the_warehouse_and_leftovers_are_cleaned(
    small_org, tmp_path: Path, s3: pafs.S3FileSystem
) -> None:
    """Mirror to s3://bucket/lake through AWS_ENDPOINT_URL: read back with pyarrow.dataset
    and through `query_lake`, every table equals the warehouse; each partition version
    gets a new object name and the old one is deleted; a stray object left by a killed
    sync (a complete one and a temp one) is deleted by the next sync."""
    server = small_org()
    path, root, prefix = tmp_path / "w.duckdb", f"s3://{BUCKET}/lake", f"{BUCKET}/lake"
    harvest_backfill(server, path)
    mirror(path, root)
    for table in LAKE_TABLES:
        assert_same_rows(lake_rows_pyarrow(prefix, table, s3), warehouse_rows(path, table), table)
    first = _objects(s3, prefix)
    assert "executions/date=2025-01-03/_manifest.json" not in first and "executions/_manifest.json" in first
    data = {p for p in first if p.endswith(".parquet")}
    assert all(p.rsplit("/", 1)[-1].startswith("part-") for p in data)

    stray = f"{prefix}/executions/date=2025-01-03/part-{uuid.uuid4().hex}.parquet"
    temp = f"{prefix}/executions/date=2025-01-04/.part-{uuid.uuid4().hex}.parquet.{uuid.uuid4().hex}.tmp"
    for key in (stray, temp):
        with s3.open_output_stream(key) as out:
            out.write(b"left by a killed sync")
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE executions SET status = 'finished', harvested_at = now() "
            "WHERE created_at < TIMESTAMPTZ '2025-01-02 00:00:00+00'"
        )
    rewritten = mirror(path, root)
    assert rewritten["executions"] == 1
    second = _objects(s3, prefix)
    assert stray[len(prefix) + 1 :] not in second and temp[len(prefix) + 1 :] not in second
    changed = {p for p in data ^ {p for p in second if p.endswith(".parquet")}}
    assert {p.rsplit("/", 1)[0] for p in changed} == {"executions/date=2025-01-01"}, "old version replaced"
    for table in ("executions", "members", "consumption"):
        assert_same_rows(lake_rows_pyarrow(prefix, table, s3), warehouse_rows(path, table), table)
    sql = "select status, count(*), min(created_at) from executions group by 1 order by 1"
    with Warehouse.open_read_only(path) as warehouse:
        assert query_lake(root, sql) == warehouse.query(sql)
