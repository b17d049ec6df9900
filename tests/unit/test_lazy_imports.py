"""Commands import what they need when they need it (issue 10, goal 2: memory).

Each check runs a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(orjson.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def cli_modules() -> set[str]:
    return _modules_after("import harvester.cli")


@pytest.mark.parametrize("module", ["pyarrow", "harvester.simulator", "harvester.demo", "sinks.lake", "rich.progress"])
def test_importing_the_cli_does_not_import(cli_modules, module):
    """pyarrow only for the lake, the simulator only for demo/simulate, rich's bars only on a terminal."""
    assert module not in cli_modules


def test_printing_results_does_not_load_the_runner_or_the_network():
    loaded = _modules_after("import harvester.output, harvester.progress")
    assert not {"harvester.runner", "harvester.sources.abstra.client", "aiohttp", "duckdb"} & loaded
