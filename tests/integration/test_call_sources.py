"""`harvester call --source`: one read-only GET on the automations or flows API, its
JSON printed; a source missing from the config is a one-line config error."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from harvester.cli import main
from harvester.errors import ExitCode
from harvester.sources.flows.simdata import FlowsSimConfig
from harvester.sources.flows.simulator import FlowsServer
from tests.threads import serve_in_thread


def test_call_source_prints_what_the_api_answers(tmp_path: Path) -> None:
    with serve_in_thread(lambda: FlowsServer(FlowsSimConfig(days=3))) as server:
        config = tmp_path / "h.toml"
        config.write_text(f'[flows]\nendpoint = "{server.endpoint}"\ntenants = ["tenant-1"]\n')
        result = CliRunner().invoke(
            main, ["call", "--config", str(config), "--source", "flows", "/logs", "filter[tenant]=tenant-1"],
            env={"FLOWS_API_TOKEN": "sim-token"},
        )
        assert result.exit_code == 0, result.output
        printed = orjson.loads(result.output)
        assert printed and server.sim.stats.get("route.logs") == 1


def test_call_source_without_its_section_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "h.toml"
    config.write_text("[harvest]\nstart = \"2025-01-01\"\n")
    result = CliRunner().invoke(main, ["call", "--config", str(config), "--source", "automations", "/x"])
    assert result.exit_code == ExitCode.CONFIG and "no [automations] section" in result.output
