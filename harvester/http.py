"""The shared HTTP layer: one gate for every client, and a read-only REST client.

    Gate          the adaptive door every request goes through, shared by every client
                  of a run (so sources together stay within one learnt rate limit);
                  each client retries with its own section's policy
    RestClient    a bearer-token JSON API that can only GET: a harvest cannot change
                  the platform it reads, whatever code calls it

Clients sit on a `Transport` (`transport.py`), the one place that touches sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import orjson
from pydantic import SecretStr

from .adaptive import AdaptiveGate, AdaptiveLimit
from .config import ApiSettings
from .errors import (
    ActionError,
    AuthError,
    ConfigError,
    FetchError,
    RedirectError,
    TransientError,
)
from .retry import RetryBudget, RetryPolicy, parse_retry_after
from .transport import AiohttpTransport, Response, Transport

__all__ = [
    "Gate",
    "NotFoundError",
    "RestClient",
    "interpret_rest",
    "refuse_redirect",
    "rest_client",
    "retry_for",
    "segment",
    "transport_for",
]

T = TypeVar("T")


@dataclass
class Gate:
    """The one door every request of a run goes through, shared by every client.

    Adaptive (`adaptive.py`): concurrency starts at `concurrency` and the pace is
    learnt from 429s (AIMD), with `Retry-After` pausing every client at once;
    `requests_per_second`, when set, is a ceiling the pace never passes. Made on first
    use, inside the running event loop."""

    concurrency: int = 8
    requests_per_second: float = 0
    _adaptive: AdaptiveGate | None = field(default=None, repr=False)

    @property
    def control(self) -> AdaptiveLimit | None:
        """The learnt limits (None before the first request), for benches and tests."""
        return self._adaptive.control if self._adaptive else None

    async def send(
        self, transport: Transport, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """One attempt through the gate; a 429 (with its Retry-After) teaches it the limit."""
        if self._adaptive is None:
            limit = AdaptiveLimit(
                max_limit=self.concurrency,
                initial_limit=self.concurrency,
                requests_per_second=self.requests_per_second,
            )
            self._adaptive = AdaptiveGate(limit)
        async with self._adaptive.slot() as ticket:
            response = await transport.request(method, url, headers, body)
            if response.status == 429:
                ticket.throttled(parse_retry_after(_header(response, "retry-after")))
            return response


def transport_for(api: ApiSettings, pool_size: int) -> AiohttpTransport:
    """The transport of one API section: its timeouts and reply cap."""
    return AiohttpTransport(
        timeout_seconds=api.timeout_seconds,
        pool_size=pool_size,
        read_timeout_seconds=api.read_timeout_seconds,
        max_reply_bytes=api.max_reply_mb << 20,
        max_reply_values=api.max_reply_values,
        settings=api.settings_location(),
    )


def retry_for(api: ApiSettings) -> RetryPolicy:
    """The retry policy of one API section."""
    return RetryPolicy(max_retries=api.max_retries, budget_seconds=api.retry_budget_seconds)


def refuse_redirect(response: Response, what: str, fix: str) -> None:
    """A 3xx is an error naming only the target's host: redirects are never followed
    (the transport does not), so a token never reaches another host."""
    if 300 <= response.status < 400:
        raise RedirectError(
            f"{what}: the API answered HTTP {response.status} redirecting to "
            f"{_location_host(_header(response, 'location') or '')}; redirects are never followed: {fix}",
            status=response.status,
        )


def _location_host(location: str) -> str:
    """Only the host (and port) of a redirect's target: its path and query may carry
    anything, and the error line must never repeat a secret."""
    try:
        parts = urlsplit(location)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "an unreadable Location"
    if not host:
        return "a path on the same host" if location else "nowhere (no Location)"
    return f"{host}:{port}" if port else host


class NotFoundError(ActionError):
    """HTTP 404: the resource does not exist (an automation without a schedule)."""


def interpret_rest(response: Response, what: str, token_env: str) -> Any:
    """A REST reply → its parsed JSON body, or the error it stands for."""
    status = response.status
    refuse_redirect(response, what, f"check the endpoint behind {token_env}")
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
        retry: RetryPolicy,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._token = token
        self._token_env = token_env
        self._transport = transport
        self._gate = gate
        self._retry = retry
        self.requests = 0  # attempts sent, retries included

    def retry_budget(self) -> RetryBudget:
        """A fresh retry budget, for the calls of one partition or snapshot."""
        return self._retry.budget()

    async def aclose(self) -> None:
        await self._transport.aclose()

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        """`endpoint` + `path` (each segment escaped by the caller via `segment`) + query."""
        text = urlencode({k: _query_value(v) for k, v in (query or {}).items() if v is not None})
        return f"{self._endpoint}{path}" + (f"?{text}" if text else "")

    async def get(
        self, path: str, query: Mapping[str, Any] | None = None, *, what: str = "", budget: RetryBudget | None = None
    ) -> Any:
        """GET `path` and return its JSON; transient failures are retried within `budget`
        (shared by the calls of one partition), else a budget of its own."""
        url = self.url(path, query)
        label = what or path
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}", "Accept": "application/json"}

        async def attempt() -> Any:
            self.requests += 1
            response = await self._gate.send(self._transport, "GET", url, headers, b"")
            return interpret_rest(response, label, self._token_env)

        return await self._retry.call(attempt, what=label, budget=budget)


def rest_client(api: ApiSettings, token_env: str, gate: Gate, pool_size: int) -> RestClient:
    """The GET-only client of one API section: its token, transport, retries, the run's gate."""
    if api.token is None or not api.token.get_secret_value():
        raise ConfigError(f"no API token: set the environment variable {token_env}")
    return RestClient(
        endpoint=api.endpoint,
        token=api.token,
        token_env=token_env,
        transport=transport_for(api, pool_size),
        gate=gate,
        retry=retry_for(api),
    )


def segment(value: str) -> str:
    """One URL path segment, escaped so an id can never change the path or the host."""
    if value.strip() in ("", ".", ".."):
        raise FetchError(f"{value!r} is not a usable path segment")
    return quote(value, safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
