"""`python -m harvester.simulator [--port N] [--config sim.json] [--seed N]`: serve until Ctrl-C.

For benchmarks that want the simulator in its own process without going through
the harvester's CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from .config import SimConfig
from .server import serve

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harvester.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--config", type=Path, help="a JSON file of SimConfig fields")
    parser.add_argument("--seed", type=int, help="overrides the config's seed")
    args = parser.parse_args(argv)
    fields = orjson.loads(args.config.read_bytes()) if args.config else {}
    if args.seed is not None:
        fields["seed"] = args.seed
    serve(SimConfig(**fields), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
