"""A child process that holds a resource until the test lets go: the same shape for
the run lock and for DuckDB's own writer lock, so one helper serves both."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_HOLDER = """
import sys
from pathlib import Path
{imports}
with {opener}(Path(sys.argv[1])):
    print("ready", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_by_child(imports: str, opener: str, path: Path) -> Iterator[subprocess.Popen[str]]:
    """Run `with opener(path):` in a child, yield once it is inside, kill it after."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(imports=imports, opener=opener), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream:
                stream.close()
