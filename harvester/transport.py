"""The one I/O seam under the client: send a POST, get status, headers and body back.

Everything the network can do wrong (reset, timeout, a body cut short) is converted
here into `TransientError`, so the client above reasons about replies, not sockets.
A test or another runtime can swap in any object with the same `post` method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from .errors import TransientError

__all__ = ["AiohttpTransport", "Response", "Transport"]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response: ...

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Response: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """aiohttp under the hood: one session, a connection pool sized to the concurrency.

    The session is created lazily inside the running event loop (aiohttp requires it).
    """

    def __init__(self, *, timeout_seconds: float, pool_size: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=min(30.0, timeout_seconds))
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )
        return self._session

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        return await self.request("POST", url, headers, body)

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Send one request of any method; the reply's status, headers and body."""
        session = self._open()
        try:
            async with session.request(method, url, data=body or None, headers=dict(headers)) as reply:
                payload = await reply.read()
                return Response(reply.status, dict(reply.headers), payload)
        except (TimeoutError, asyncio.TimeoutError):
            raise TransientError(f"no reply within {self._timeout.total:g} s") from None
        except aiohttp.ClientPayloadError as exc:
            raise TransientError(f"reply body cut short ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise TransientError(f"connection failed ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
