"""The lake from the user's side: `[warehouse] parquet`, the run hook, `export`, `sql --lake`.

These run once the `[warehouse] parquet` key and the `export` command are in place
(issue 4's integration); until then they are skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from harvester.cli import main
from harvester.config import WarehouseSettings, load_settings
from harvester.errors import ExitCode
from harvester.runner import Backfill, harvest
from tests.integration.conftest import write_config

from .conftest import (
    END,
    START,
    assert_lake_equals_warehouse,
    lake_files,
    make_settings,
    warehouse_rows,
)

pytestmark = pytest.mark.skipif(
    "parquet" not in WarehouseSettings.model_fields or "export" not in main.commands,
    reason="the [warehouse] parquet key and `harvester export` are not integrated yet",
)


def _invoke(args: list[str], token: str = "") -> Result:
    return CliRunner().invoke(
        main, ["--log-format", "json", *args], env={"ABSTRA_API_TOKEN": token}, catch_exceptions=False
    )


def test_a_run_with_a_lake_configured_mirrors_it_and_export_rebuilds_it(small_org, tmp_path: Path) -> None:
    """`harvest` ends by mirroring into `[warehouse] parquet`; `export --full` rewrites it;
    `sql --lake` answers like `sql`."""
    server = small_org()
    path, root = tmp_path / "warehouse.duckdb", tmp_path / "lake"  # the names write_config uses
    base = make_settings(server, path)
    settings = base.model_copy(update={"warehouse": base.warehouse.model_copy(update={"parquet": str(root)})})
    assert anyio.run(harvest, settings, Backfill(START, END)).status == "ok"
    assert_lake_equals_warehouse(path, root)

    config = write_config(server, tmp_path)
    config.write_text(config.read_text() + 'parquet = "lake"\n')
    assert load_settings(config, env={}).warehouse.parquet == str(root), "relative to the config file"
    before = lake_files(root)
    done = _invoke(["export", "--config", str(config), "--tables", "executions", "--full"])
    assert done.exit_code == 0, done.stderr
    assert "executions" in done.stdout
    after = lake_files(root)
    assert {k for k in before if before[k] != after[k]} == {k for k in before if k[0] == "executions"}
    query = "select count(*) as n, count(distinct id) as ids from executions"
    lake = _invoke(["sql", "--config", str(config), "--lake", "--format", "csv", query])
    ware = _invoke(["sql", "--config", str(config), "--format", "csv", query])
    assert lake.exit_code == ware.exit_code == 0, lake.stderr + ware.stderr
    assert lake.stdout == ware.stdout and lake.stdout.splitlines()[1] != "0,0"


def test_export_and_sql_lake_without_a_lake_configured_are_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "h.toml"
    config.write_text('[warehouse]\nduckdb = "w.duckdb"\n')
    for args in (["export"], ["sql", "--lake", "select 1"]):
        result = _invoke([*args[:1], "--config", str(config), *args[1:]])
        assert result.exit_code == ExitCode.CONFIG, result.stderr
        assert "[warehouse] parquet" in result.stderr


def test_a_lake_that_cannot_be_written_makes_the_run_partial_and_loses_nothing(small_org, tmp_path: Path) -> None:
    """The rows are committed before the mirror: a lake failure is reported (status
    partial, exit 1) and the warehouse keeps everything."""
    server = small_org()
    path, blocker = tmp_path / "w.duckdb", tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake folder should be")
    base = make_settings(server, path)
    settings = base.model_copy(update={"warehouse": base.warehouse.model_copy(update={"parquet": str(blocker)})})
    report = anyio.run(harvest, settings, Backfill(START, END))
    assert report.status == "partial" and any(f.startswith("lake ") for f in report.failures), report.failures
    assert warehouse_rows(path, "executions")
