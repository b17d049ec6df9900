"""The README and config.example.toml stay true: examples run, every name is documented."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from harvester.cli import main
from harvester.config import Settings, load_settings
from harvester.demo import build_demo
from harvester.examples import EXAMPLE_QUERIES
from harvester.sources.abstra.streams import TABLES
from sinks import Warehouse

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README, flags=re.S)


def test_every_readme_sql_example_runs_on_a_harvested_warehouse(tmp_path: Path) -> None:
    """On a small demo warehouse of the three simulated platforms, every block returns rows."""
    path = tmp_path / "w.duckdb"
    build_demo(path, days=8, projects=6)
    blocks = _sql_blocks()
    assert len(blocks) >= 4
    with Warehouse.open_read_only(path) as warehouse:
        for sql in blocks:
            columns, rows = warehouse.query(sql)
            assert columns and rows, sql


def test_the_demo_prints_the_readme_queries() -> None:
    blocks = [b.strip() for b in _sql_blocks()]
    for _, sql in EXAMPLE_QUERIES:
        assert sql.strip() in blocks


def test_every_table_command_and_exit_code_is_documented() -> None:
    for table in TABLES:
        assert f"`{table}`" in README, table
    for command in main.commands:
        assert f"harvester {command}" in README, command
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in README


def _section_model(annotation: Any) -> Any:
    """The settings model behind `X`, `X | None` or `list[X]`."""
    if hasattr(annotation, "model_fields"):
        return annotation
    return next(_section_model(a) for a in typing.get_args(annotation) if a is not type(None))


def test_config_example_documents_every_key_and_loads() -> None:
    """Every key of every section is in the example (sections of optional sources may be
    commented out there, so the example stays a template) and in the README."""
    example = ROOT / "config.example.toml"
    uncommented = re.sub(r"^# ?(?=\[|[a-z_]+ = )", "", example.read_text(), flags=re.M)
    data = tomllib.loads(uncommented)
    for section, field in Settings.model_fields.items():
        model = _section_model(field.annotation)
        fields = set(model.model_fields) - {"token"}
        found = data[section][0] if isinstance(data[section], list) else data[section]
        assert set(found) == fields, section
        for key in fields:
            assert f"`[{section}] {key}`" in README, f"[{section}] {key} missing from the README"
    load_settings(example, env={})
