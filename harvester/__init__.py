"""abstra-harvester: automation platforms' audit logs, executions and inventory → DuckDB.

The library surface is small: build `Settings` (`harvester.config.load_settings`), then
call `harvester.runner.harvest(settings, Backfill(...) | Incremental())` (the modes live
in `harvester.modes`). The CLI (`harvester.cli`) is a thin shell over it. This package
file imports nothing, so a command pays only for the modules it uses.
"""

__version__ = "0.1.0"
