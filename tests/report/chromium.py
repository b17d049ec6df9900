"""Open a page in headless Chromium and record what it did: console messages, script
errors and every network request, over the DevTools protocol (aiohttp's websocket client).

Chromium is started on a fresh profile with `--remote-debugging-port=0`; it writes the
port it chose to `DevToolsActivePort` in the profile, which we read (no port race).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio

__all__ = ["PageLoad", "find_chromium", "load_page"]

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


@dataclass
class PageLoad:
    console: list[str] = field(default_factory=list)  # console.* calls, script exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, but itself
    svgs: int = 0
    height: int = 0


class _Cdp:
    """Calls in order on one page; events that arrive meanwhile are kept for later."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    async def wait_for(self, method: str) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        while True:
            message = await self.ws.receive_json()
            self.events.append(message)
            if message.get("method") == method:
                return


@asynccontextmanager
async def _browser(binary: str) -> AsyncIterator[str]:
    """The websocket URL of a blank page in a fresh headless Chromium, killed afterwards."""
    # its own session, so the kill reaches Chromium's helper processes too (they write the profile)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([binary, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            with anyio.fail_after(60):
                while not port_file.is_file() or not port_file.read_text().strip():
                    await anyio.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as reply:
                    targets = await reply.json()
            yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _record(load: PageLoad, event: dict[str, Any], url: str) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        load.console.append(f"console.{params['type']}: " + " ".join(str(a.get("value")) for a in params["args"]))
    elif method == "Runtime.exceptionThrown":
        load.console.append(f"exception: {params['exceptionDetails'].get('text')}")
    elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
        load.console.append(f"log.{params['entry']['level']}: {params['entry']['text']}")
    elif method == "Network.requestWillBeSent" and params["request"]["url"] != url:
        load.requests.append(params["request"]["url"])


async def load_page(binary: str, path: Path) -> PageLoad:
    """Load `path` as a file:// URL and report what happened until the load event."""
    url = path.resolve().as_uri()
    load = PageLoad()
    async with _browser(binary) as ws_url, aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            cdp = _Cdp(ws)
            for domain in ("Runtime", "Log", "Network", "Page"):
                await cdp.call(f"{domain}.enable")
            with anyio.fail_after(120):
                await cdp.call("Page.navigate", url=url)
                await cdp.wait_for("Page.loadEventFired")
                counts = await cdp.call("Runtime.evaluate", returnByValue=True, expression=(
                    "[document.querySelectorAll('svg').length, document.documentElement.scrollHeight]"))
            load.svgs, load.height = counts["result"]["value"]
            for event in cdp.events:
                _record(load, event, url)
    return load
