"""The Abstra Manager API client: one typed method per action over `execute`.

    POST {endpoint}/cli/connectors/connection/{connection}/execute
    Api-Authorization: Bearer <token>
    {"connectionName": ..., "actionName": ..., "parameters": {...}}

The client owns the policy (retries, concurrency and rate limits, reply
interpretation); the transport owns the socket. Replies are mapped to the error tree
in `errors` by `interpret`, a pure function: 401/403 → AuthError, 429/5xx/bad JSON →
TransientError, `status: "error"` (with HTTP 200 or 4xx) → ActionError.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import orjson
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from ...config import TOKEN_ENV, Settings
from ...errors import (
    ActionError,
    AuthError,
    ConfigError,
    TransientError,
    WindowRefusedError,
)
from ...retry import RetryPolicy, parse_retry_after
from ...transport import AiohttpTransport, Response, Transport
from .models import (
    ConsumptionQuery,
    ExecutionsPage,
    ExecutionsQuery,
    LogPage,
    LogQuery,
    MemberChange,
    ProjectLogQuery,
    ProjectQuery,
)

__all__ = ["MUTATING_ACTIONS", "AbstraClient", "ConnectionNotFoundError", "interpret"]

MUTATING_ACTIONS = frozenset({"add_member", "remove_member"})
_REFUSAL_HINTS = ("31 day", "31-day", "date range", "window", "projectids", "100 project")


class ConnectionNotFoundError(ActionError):
    """The connection name is unknown to the API: a config problem, not a data one."""

    exit_code = ConfigError.exit_code


def interpret(response: Response, action: str) -> Any:
    """A raw reply → the action's `data`, or the error it stands for."""
    status = response.status
    if status in (401, 403):
        raise AuthError(
            f"the API refused the token (HTTP {status}): check the {TOKEN_ENV} environment variable",
            action=action,
            status=status,
        )
    if status in (408, 425, 429) or status >= 500 or (status == 413 and "retry-after" in _lower(response.headers)):
        retry_after = parse_retry_after(_lower(response.headers).get("retry-after"))
        raise TransientError(f"{action}: HTTP {status}", action=action, status=status, retry_after=retry_after)
    body = _json(response.body)
    if isinstance(body, dict) and body.get("status") == "error":
        message = str(body.get("message") or "no message")[:500]
        if status == 404:
            raise ConnectionNotFoundError(
                f"{action}: {message} (check [abstra] connection in the config)", action=action, status=status
            )
        kind = WindowRefusedError if any(h in message.lower() for h in _REFUSAL_HINTS) else ActionError
        raise kind(f"{action} refused by the API: {message}", action=action, status=status)
    if status == 404:
        raise ConnectionNotFoundError(
            f"{action}: HTTP 404 (check [abstra] endpoint and connection in the config)",
            action=action,
            status=status,
        )
    if status >= 400:
        raise ActionError(f"{action}: HTTP {status}", action=action, status=status)
    if body is _INVALID:
        raise TransientError(f"{action}: reply is not valid JSON", action=action, status=status)
    if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
        raise TransientError(f"{action}: reply is not a success/error envelope", action=action, status=status)
    return body["data"]


_INVALID = object()


def _json(body: bytes) -> Any:
    """Parse a reply. orjson first (fast); the stdlib takes what orjson refuses but
    is still JSON: integers past 64 bits, and bytes that are not UTF-8 (kept as lone
    surrogates, so the one entry holding them becomes a reject, not the page)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return _INVALID


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class AbstraClient:
    """Async client; use as `async with AbstraClient.from_settings(s) as client:`."""

    def __init__(
        self,
        *,
        endpoint: str,
        connection: str,
        token: SecretStr,
        transport: Transport,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        requests_per_second: float = 0,
    ) -> None:
        self._url = _execute_url(endpoint, connection)
        self._connection = connection
        self._token = token
        self._transport = transport
        self._retry = retry or RetryPolicy()
        self._slots = anyio.CapacityLimiter(concurrency)
        self._rate = AsyncLimiter(requests_per_second, 1) if requests_per_second > 0 else None
        self.requests = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, retry: RetryPolicy | None = None) -> AbstraClient:
        a, h = settings.abstra, settings.harvest
        return cls(
            endpoint=a.endpoint,
            connection=a.connection,
            token=settings.require_token(),
            transport=AiohttpTransport(timeout_seconds=a.timeout_seconds, pool_size=h.concurrency),
            retry=retry or RetryPolicy(max_retries=a.max_retries),
            concurrency=h.concurrency,
            requests_per_second=h.requests_per_second,
        )

    async def __aenter__(self) -> AbstraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def execute(self, action: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Call any action; returns its `data`. Mutating actions are never retried."""
        body = {"connectionName": self._connection, "actionName": action}
        if parameters:
            body["parameters"] = dict(parameters)
        payload = orjson.dumps(body)

        async def attempt() -> Any:
            async with self._gate():
                self.requests += 1
                response = await self._transport.post(self._url, self._headers(), payload)
            return interpret(response, action)

        if action in MUTATING_ACTIONS:
            return await attempt()
        return await self._retry.call(attempt, what=action)

    @contextlib.asynccontextmanager
    async def _gate(self) -> AsyncIterator[None]:
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            yield

    def _headers(self) -> dict[str, str]:
        return {
            "Api-Authorization": f"Bearer {self._token.get_secret_value()}",
            "Content-Type": "application/json",
        }

    # Snapshots -----------------------------------------------------------------

    async def get_organization(self) -> Any:
        return await self.execute("get_organization")

    async def get_members(self) -> Any:
        return await self.execute("get_members")

    async def list_project_tables(self, q: ProjectQuery) -> Any:
        return await self.execute("list_project_tables", q.wire())

    async def list_project_connectors(self, q: ProjectQuery) -> Any:
        return await self.execute("list_project_connectors", q.wire())

    async def list_project_forms_and_pages(self, q: ProjectQuery) -> Any:
        return await self.execute("list_project_forms_and_pages", q.wire())

    async def get_project_abstra_json(self, q: ProjectQuery) -> Any:
        return await self.execute("get_project_abstra_json", q.wire())

    # Windowed ------------------------------------------------------------------

    async def get_project_executions(self, q: ExecutionsQuery) -> ExecutionsPage:
        return ExecutionsPage.model_validate(await self.execute("get_project_executions", q.wire()))

    async def get_project_consumption(self, q: ConsumptionQuery) -> Any:
        return await self.execute("get_project_consumption", q.wire())

    async def log_page(self, action: str, q: LogQuery) -> LogPage:
        """Any of the six log actions; they share one reply shape."""
        return LogPage.model_validate(await self.execute(action, q.wire()))

    async def get_organization_action_logs(self, q: LogQuery) -> LogPage:
        return await self.log_page("get_organization_action_logs", q)

    async def get_project_action_logs(self, q: ProjectLogQuery) -> LogPage:
        return await self.log_page("get_project_action_logs", q)

    async def get_auth_attempt_logs(self, q: LogQuery) -> LogPage:
        return await self.log_page("get_auth_attempt_logs", q)

    async def get_email_notification_logs(self, q: LogQuery) -> LogPage:
        return await self.log_page("get_email_notification_logs", q)

    async def get_connector_action_logs(self, q: LogQuery) -> LogPage:
        return await self.log_page("get_connector_action_logs", q)

    async def get_ai_prompt_logs(self, q: LogQuery) -> LogPage:
        return await self.log_page("get_ai_prompt_logs", q)

    # Mutations (never retried, never called by a harvest) ------------------------

    async def add_member(self, q: MemberChange) -> Any:
        return await self.execute("add_member", q.wire())

    async def remove_member(self, q: MemberChange) -> Any:
        return await self.execute("remove_member", q.wire())


def _execute_url(endpoint: str, connection: str) -> str:
    """The execute URL, with the connection name escaped so it can never change the
    host or climb out of the path; checked against the endpoint's host."""
    if connection.strip() in ("", ".", ".."):
        raise ConfigError(f"connection {connection!r} is not a connection name")
    url = f"{endpoint.rstrip('/')}/cli/connectors/connection/{quote(connection, safe='')}/execute"
    if urlsplit(url).netloc != urlsplit(endpoint).netloc:
        raise ConfigError(f"connection {connection!r} would change the API host; use a plain name")
    return url
