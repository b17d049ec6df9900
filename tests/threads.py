"""Serve any async-context-manager simulator (`.endpoint`, `.sim`) from a background
thread, so a harvester in a subprocess can reach it while the test waits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

__all__ = ["serve_in_thread"]


@contextmanager
def serve_in_thread(make: Callable[[], AbstractAsyncContextManager[Any]]) -> Iterator[Any]:
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        async with make() as server:
            box["server"] = server
            ready.set()
            await box["stop"].wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    if "server" not in box:
        raise RuntimeError("the simulator failed to start") from box.get("error")
    try:
        yield box["server"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=30)
