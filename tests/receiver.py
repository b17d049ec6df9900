"""A webhook receiver on loopback for the alert tests: records every POSTed document.

`mode` decides the answer: "ok" (200), "fail" (500), "flood" (200 with 2 MiB of body)
or "hang" (no answer until the mode changes), so a test can make delivery fail or
keep a harvester inside its POST while it is killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

__all__ = ["Receiver", "receiver"]


@dataclass
class Receiver:
    url: str
    mode: str = "ok"
    documents: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    def alert_ids(self) -> list[str]:
        return [d["alert_id"] for d in self.documents]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.attempts += 1
            while state.mode == "hang":
                time.sleep(0.05)
            if state.mode == "fail":
                self.send_response(500)
                self.end_headers()
                return
            if state.mode == "flood":
                self.send_response(200)
                self.send_header("Content-Length", str(2 << 20))
                self.end_headers()
                self.wfile.write(b" " * (2 << 20))
                return
            state.documents.append(orjson.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/flow-1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.mode = "ok"
        server.shutdown()
        server.server_close()
