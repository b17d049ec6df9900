"""Harvest state kept inside the warehouse file: partitions and checkpoints, runs, the
alert outbox, sources' marks, the table catalog's errors, and the run lock.

Import the module you need (`state.checkpoints`, `state.lock`, ...): the package
itself imports nothing, so light modules such as `state.partitions` (the values a
planner builds) never pull in DuckDB.
"""
