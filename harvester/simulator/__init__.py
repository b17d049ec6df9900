"""A simulated Abstra Manager API: the connector `execute` endpoint over a synthetic organization.

Deterministic (same seed, same data), lazy (history is generated per day on demand),
and able to misbehave on cue (faults, rate limits, malformed entries, live arrivals).
Tests run it in-process with `run_in_thread` or `SimulatorServer`; benchmarks and the
demo run `serve` (`python -m harvester.simulator`). `Simulator.org` doubles as the
ground truth a harvest is checked against.
"""

from __future__ import annotations

from .actions import ActionError
from .config import FAULT_KINDS, LOG_ACTIONS, LOG_STREAMS, TRANSIENT_FAULTS, SimConfig
from .faults import Faults
from .org import Org
from .server import (
    ROUTE,
    ServerHandle,
    Simulator,
    SimulatorServer,
    create_app,
    run_in_thread,
    serve,
)

__all__ = [
    "ActionError",
    "FAULT_KINDS",
    "Faults",
    "LOG_ACTIONS",
    "LOG_STREAMS",
    "Org",
    "ROUTE",
    "ServerHandle",
    "SimConfig",
    "Simulator",
    "SimulatorServer",
    "TRANSIENT_FAULTS",
    "create_app",
    "run_in_thread",
    "serve",
]
