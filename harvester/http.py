"""The shared HTTP layer: one gate for every client, and a read-only REST client.

    Gate          concurrency slots and a requests-per-second ceiling, shared by every
                  client of a run (so two sources never exceed the configured limits
                  together), and the retry policy with `Retry-After`
    RestClient    a bearer-token JSON API that can only GET: a harvest cannot change
                  the platform it reads, whatever code calls it

Clients sit on a `Transport` (`transport.py`), the one place that touches sockets.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio
import orjson
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from .errors import ActionError, AuthError, FetchError, TransientError
from .retry import RetryPolicy, parse_retry_after
from .transport import Response, Transport

__all__ = ["Gate", "NotFoundError", "RestClient", "interpret_rest"]

T = TypeVar("T")


@dataclass
class Gate:
    """Limits and retries shared by every client of one run.

    The limiter objects are made on first use, inside the running event loop."""

    concurrency: int = 8
    requests_per_second: float = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests: int = 0
    _slots: anyio.CapacityLimiter | None = field(default=None, repr=False)
    _rate: AsyncLimiter | None = field(default=None, repr=False)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the run's request slots (and a rate token) for one attempt."""
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self.concurrency)
            if self.requests_per_second > 0:
                self._rate = AsyncLimiter(self.requests_per_second, 1)
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            self.requests += 1
            yield

    async def call(self, attempt: Callable[[], Awaitable[T]], *, what: str, retry: bool = True) -> T:
        """Run `attempt` (which takes a slot itself), retrying transient failures."""
        if not retry:
            return await attempt()
        return await self.retry.call(attempt, what=what)


class NotFoundError(ActionError):
    """HTTP 404: the resource does not exist (an automation without a schedule)."""


def interpret_rest(response: Response, what: str, token_env: str) -> Any:
    """A REST reply → its parsed JSON body, or the error it stands for."""
    status = response.status
    if status in (401, 403):
        raise AuthError(f"{what}: the API refused the token (HTTP {status}): check {token_env}", status=status)
    if status in (408, 425, 429) or status >= 500:
        retry_after = parse_retry_after(_header(response, "retry-after"))
        raise TransientError(f"{what}: HTTP {status}", status=status, retry_after=retry_after)
    if status == 404:
        raise NotFoundError(f"{what}: HTTP 404 (not found)", status=status)
    if status >= 400:
        raise ActionError(f"{what}: HTTP {status}: {_snippet(response.body)}", status=status)
    if not response.body.strip():
        return None
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise TransientError(f"{what}: reply is not valid JSON", status=status) from None


def _header(response: Response, name: str) -> str | None:
    return next((v for k, v in response.headers.items() if k.lower() == name), None)


def _snippet(body: bytes) -> str:
    return " ".join(body[:300].decode("utf-8", "replace").split())


class RestClient:
    """GET-only JSON client for a bearer-token API (`Authorization: Bearer <token>`)."""

    def __init__(
        self,
        *,
        endpoint: str,
        token: SecretStr,
        token_env: str,
        transport: Transport,
        gate: Gate,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._token = token
        self._token_env = token_env
        self._transport = transport
        self._gate = gate

    async def aclose(self) -> None:
        await self._transport.aclose()

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        """`endpoint` + `path` (each segment escaped by the caller via `segment`) + query."""
        text = urlencode({k: _query_value(v) for k, v in (query or {}).items() if v is not None})
        return f"{self._endpoint}{path}" + (f"?{text}" if text else "")

    async def get(self, path: str, query: Mapping[str, Any] | None = None, *, what: str = "") -> Any:
        """GET `path` and return its JSON; retried on transient failures."""
        url = self.url(path, query)
        label = what or path
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}", "Accept": "application/json"}

        async def attempt() -> Any:
            async with self._gate.slot():
                response = await self._transport.request("GET", url, headers, b"")
            return interpret_rest(response, label, self._token_env)

        return await self._gate.call(attempt, what=label)


def segment(value: str) -> str:
    """One URL path segment, escaped so an id can never change the path or the host."""
    if value.strip() in ("", ".", ".."):
        raise FetchError(f"{value!r} is not a usable path segment")
    return quote(value, safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
