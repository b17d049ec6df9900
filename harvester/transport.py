"""The one I/O seam under every client: send a request, get status, headers and body back.

Everything the network can do wrong (reset, timeout, a body cut short) is converted
here into `TransientError`, so the client above reasons about replies, not sockets.
A test or another runtime can swap in any object with the same `request` method.

Four limits are properties of this seam, so no caller can forget them:

- redirects are never followed (`allow_redirects=False`): a 3xx comes back as a
  reply, and the token is never sent anywhere but the configured endpoint;
- a reply is read as a stream and stops at `max_reply_bytes` counted after
  decompression (a gzip bomb inflates chunk by chunk, never whole); a larger
  `Content-Length` is refused before reading;
- a reply holds at most `max_reply_values` of the bytes `{ [ , :`. A JSON parse
  builds at most two values per such byte (plus the root), so this caps how many
  objects a parse can build: 30 MB of `{}` would build 10M dicts, ~700 MB, under
  the byte cap alone, where an ordinary reply of 30 MB parses into ~150-200 MB.
  Strings are not counted: the byte cap bounds them (up to 4 bytes a character);
- a reply that pauses longer than `read_timeout_seconds` between bytes is cut, and
  `timeout_seconds` still bounds the whole attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from .errors import ReplyTooLargeError, TransientError
from .jsonscan import structural_bytes

__all__ = ["AiohttpTransport", "Response", "Transport"]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """aiohttp under the hood: one session, a connection pool sized to the concurrency.

    The session is created lazily inside the running event loop (aiohttp requires it).
    """

    def __init__(
        self,
        *,
        timeout_seconds: float,
        pool_size: int,
        read_timeout_seconds: float = 60.0,
        max_reply_bytes: int = 32 << 20,
        max_reply_values: int = 2_000_000,
        settings: str | None = "[abstra]",
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds,
            sock_connect=min(30.0, timeout_seconds),
            sock_read=min(read_timeout_seconds, timeout_seconds),
        )
        self._pool_size = pool_size
        self._max_bytes = max_reply_bytes
        self._max_values = max_reply_values
        self._settings = settings  # where a message says to raise a cap (None: no setting does)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )
        return self._session

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Send one request of any method; the reply's status, headers and body."""
        session = self._open()
        try:
            async with session.request(
                method, url, data=body or None, headers=dict(headers), allow_redirects=False
            ) as reply:
                payload = await self._read(reply)
                return Response(reply.status, dict(reply.headers), payload)
        except aiohttp.SocketTimeoutError:
            raise TransientError(f"no data for {self._timeout.sock_read:g} s (read_timeout_seconds)") from None
        except (TimeoutError, asyncio.TimeoutError):
            raise TransientError(f"no reply within {self._timeout.total:g} s") from None
        except aiohttp.ClientPayloadError as exc:
            raise TransientError(f"reply body cut short ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise TransientError(f"connection failed ({type(exc).__name__})") from None

    async def _read(self, reply: aiohttp.ClientResponse) -> bytes:
        """The body, chunk by chunk, never more than the cap (after decompression)."""
        if reply.content_length is not None and reply.content_length > self._max_bytes:
            raise self._too_large(f"Content-Length {reply.content_length}")
        body = bytearray()
        counted = structural = 0
        async for chunk in reply.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > self._max_bytes:
                raise self._too_large("the reply went on")
            if len(body) > self._max_values:  # fewer bytes cannot hold more of them
                structural += structural_bytes(body, counted)
                counted = len(body)
                if structural > self._max_values:
                    raise self._too_many()
        return bytes(body)

    def _too_large(self, why: str) -> ReplyTooLargeError:
        cap = self._cap("max_reply_mb", f"{self._max_bytes / (1 << 20):g}", " MiB")
        return self._refusal(f"reply larger than {cap} ({why})", "max_reply_mb")

    def _too_many(self) -> ReplyTooLargeError:
        cap = self._cap("max_reply_values", f"{self._max_values:,}")
        what = f"reply holds more than {cap} JSON values (counted by its {{ [ , : bytes)"
        return self._refusal(what, "max_reply_values")

    def _cap(self, setting: str, value: str, unit: str = "") -> str:
        """A cap as the message names it: by its setting when a user can raise it."""
        return f"{value}{unit}" if self._settings is None else f"{setting} = {value}"

    def _refusal(self, what: str, setting: str) -> ReplyTooLargeError:
        """One line: what was refused, and where to raise the cap when a user can."""
        if self._settings is None:
            return ReplyTooLargeError(what)
        return ReplyTooLargeError(f"{what}; raise {setting} in {self._settings} if such replies are real")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
