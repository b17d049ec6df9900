"""The Abstra Manager API client: one typed method per action over `execute`.

    POST {endpoint}/cli/connectors/connection/{connection}/execute
    Api-Authorization: Bearer <token>
    {"connectionName": ..., "actionName": ..., "parameters": {...}}

The client owns the policy (retries, concurrency and rate limits, reply
interpretation); the transport owns the socket. Replies are mapped to the error tree
in `errors` by `interpret`, a pure function: 3xx → RedirectError (never followed),
401/403 → AuthError, 429/5xx/bad JSON → TransientError, `status: "error"` (with HTTP
200 or 4xx) → ActionError, except that a `custom` call whose upstream answered 429
or 5xx (the status shows in the message) is a TransientError like the API's own. A
reply of the wrong shape, or a page holding more entries than the `limit` asked for,
is a ProtocolError: the partition fails in one line and the rest of the run goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import msgspec
import orjson
from pydantic import BaseModel, SecretStr, ValidationError

from ...config import TOKEN_ENV, Settings
from ...errors import (
    ActionError,
    AuthError,
    ConfigError,
    ProtocolError,
    ReplyTooLargeError,
    TransientError,
    WindowRefusedError,
)
from ...http import Gate, refuse_redirect, retry_for, transport_for
from ...jsonscan import loads
from ...retry import RetryBudget, RetryPolicy, parse_retry_after
from ...transport import Response, Transport
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

__all__ = [
    "MUTATING_ACTIONS",
    "AbstraClient",
    "ConnectionNotFoundError",
    "LogReply",
    "interpret",
    "reply_json",
    "upstream_status",
]

_M = TypeVar("_M", bound=BaseModel)
Quick = Callable[[bytes], Any]  # a reply body -> what stands for its `data`, or None

MUTATING_ACTIONS = frozenset({"add_member", "remove_member"})
_REFUSAL_HINTS = ("31 day", "31-day", "date range", "window", "projectids", "100 project")


class ConnectionNotFoundError(ActionError):
    """The connection name is unknown to the API: a config problem, not a data one."""

    exit_code = ConfigError.exit_code


def interpret(response: Response, action: str) -> Any:
    """A raw reply → the action's `data`, or the error it stands for."""
    return _interpret(response, action)[0]


def _interpret(response: Response, action: str, quick: Quick | None = None) -> tuple[Any, bool]:
    """`interpret`, and whether the reply was plain JSON (orjson read it as it is).

    `quick` may read a success reply's body first, without building its entries in
    Python; whatever it returns None for gets the full reading below."""
    status = response.status
    refuse_redirect(response, action, "check [abstra] endpoint")
    if status in (401, 403):
        raise AuthError(
            f"the API refused the token (HTTP {status}): check the {TOKEN_ENV} environment variable",
            action=action,
            status=status,
        )
    if status in (408, 425, 429) or status >= 500 or (status == 413 and "retry-after" in _lower(response.headers)):
        retry_after = parse_retry_after(_lower(response.headers).get("retry-after"))
        raise TransientError(f"{action}: HTTP {status}", action=action, status=status, retry_after=retry_after)
    if quick is not None and status < 400 and (found := quick(response.body)) is not None:
        return found, True
    body, plain = _read_json(response.body, status)
    if isinstance(body, dict) and body.get("status") == "error":
        message = str(body.get("message") or "no message")[:500]
        if status == 404:
            raise ConnectionNotFoundError(
                f"{action}: {message} (check [abstra] connection in the config)", action=action, status=status
            )
        if action == "custom" and upstream_status(message) in _RETRIED_UPSTREAM:
            raise TransientError(f"{action}: the upstream answered {message}", action=action, status=status)
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
    return body["data"], plain


_INVALID = object()
_UPSTREAM_STATUS = re.compile(r"\bstatus(?: code)?:? ([1-5][0-9][0-9])\b", re.I)
_RETRIED_UPSTREAM = frozenset({408, 425, 429, *range(500, 600)})


def upstream_status(message: str) -> int | None:
    """The upstream HTTP status a `custom` action error reports (`Request failed with
    status code 503: ...`), or None. Only the first one counts: the upstream's body
    follows it in the message and may mention any number."""
    found = _UPSTREAM_STATUS.search(message)
    return int(found.group(1)) if found else None


def reply_json(body: bytes) -> Any:
    """A reply body's JSON as the client reads it (orjson, else the tolerant parser)."""
    found, _ = _json(body)
    if found is _INVALID:
        raise ProtocolError("reply is not valid JSON")
    return found


def _read_json(body: bytes, status: int) -> tuple[Any, bool]:
    """`_json`, except that an error reply too large for the slow reading still means
    its status (a 404 stays a wrong connection, a 400 a refusal)."""
    try:
        return _json(body)
    except ReplyTooLargeError:
        if status < 400:
            raise
        return _INVALID, False


def _json(body: bytes) -> tuple[Any, bool]:
    """The reply's JSON and whether orjson read it as it is; the tolerant parser
    (`jsonscan.loads`) takes what orjson refuses."""
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError:
        pass
    try:
        return loads(body), False
    except ValueError:
        return _INVALID, False


def _reply(model: type[_M], data: Any, action: str, limit: int | None, items: str) -> _M:
    """`data` as `model`, or a one-line ProtocolError: a reply of the wrong shape or a
    page holding more `items` than the `limit` asked for is not worth a retry."""
    try:
        page = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in ("data", *error["loc"]))
        raise ProtocolError(
            f"{action}: reply has the wrong shape: {where}: {error['msg']}", action=action
        ) from None
    _check_count(len(getattr(page, items)), limit, action, items)
    return page


def _check_count(count: int, limit: int | None, action: str, items: str) -> None:
    if limit is not None and count > limit:
        raise ProtocolError(
            f"{action}: page holds {count} {items}, more than the limit of {limit} asked for", action=action
        )


@dataclass(frozen=True)
class LogReply:
    """A log page as the fetcher needs it: how many entries, the next cursor, and the
    entries either as the reply's bytes (plain JSON: the writer reads them itself,
    `sinks.entries`) or, for any other reply, read in Python."""

    count: int
    next_cursor: Any
    body: bytes | None
    entries: list[Any]  # [] when `body` is set


class _LogData(msgspec.Struct):
    entries: list[msgspec.Raw] = []  # noqa: RUF012  (msgspec copies defaults)
    nextCursor: Any = None  # noqa: N815  (the wire's name)
    next_cursor: Any = msgspec.UNSET  # LogPage reads this name too: such replies get the full reading


class _LogEnvelope(msgspec.Struct):
    status: Any = None
    data: _LogData | None = None


_LOG_ENVELOPE = msgspec.json.Decoder(_LogEnvelope)
# Each entry costs a 48-byte `msgspec.Raw` (plus its list slot) until the page is
# counted, and an entry can be as short as `0,`: a hostile page of tiny entries makes
# that 28 times its size. Up to 1 MiB (a page of 1,000 ordinary entries is ~200 KB)
# that is at most ~30 MB, about what orjson's dicts cost for a page of `{}` entries
# of that size; larger replies get the full reading, as before this path existed.
_QUICK_MAX_BYTES = 1 << 20
# Numbers orjson refuses (an integer past 64 bits, a float past a double's range) need
# 19 digits in a row or a 3-digit exponent; msgspec does not range-check what it skips,
# so a reply with anything like one (also inside a string: only slower) is read in full.
_HUGE_NUMBER = re.compile(rb"[:,\[]\s*-?(?:[0-9]{19}|[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{3})")


def _log_head(body: bytes) -> LogReply | None:
    """A plain success reply (entry count, next cursor, its bytes), read without building the
    entries (msgspec only checks their syntax): the fetcher needs no more, and a
    thousand dicts a page cost the event loop more than the rest of a fetch. None
    for anything else (not UTF-8, not JSON msgspec reads, another envelope, an odd
    shape, a number orjson would refuse, a reply over `_QUICK_MAX_BYTES`), which the
    full reading then reads or refuses."""
    if len(body) > _QUICK_MAX_BYTES or _HUGE_NUMBER.search(body):
        return None
    try:
        if not body.isascii():
            body.decode("utf-8")  # msgspec does not check the strings it skips
        reply = _LOG_ENVELOPE.decode(body)
    except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):
        return None
    data = reply.data
    if reply.status != "success" or data is None or data.next_cursor is not msgspec.UNSET:
        return None
    return LogReply(len(data.entries), data.nextCursor, body, [])


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
        gate: Gate | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._url = _execute_url(endpoint, connection)
        self._connection = connection
        self._token = token
        self._transport = transport
        self._retry = retry or RetryPolicy()
        self._gate = gate or Gate()
        self.requests = 0  # attempts sent, retries included

    @classmethod
    def from_settings(
        cls, settings: Settings, *, retry: RetryPolicy | None = None, gate: Gate | None = None
    ) -> AbstraClient:
        a, h = settings.abstra, settings.harvest
        if a is None:
            raise ConfigError("no [abstra] section: the Abstra API is not configured")
        return cls(
            endpoint=a.endpoint,
            connection=a.connection,
            token=settings.require_token(),
            transport=transport_for(a, h.concurrency),
            retry=retry or retry_for(a),
            gate=gate or Gate(h.concurrency, h.requests_per_second),
        )

    async def __aenter__(self) -> AbstraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    def retry_budget(self) -> RetryBudget:
        """A fresh retry budget, for the calls of one partition or snapshot."""
        return self._retry.budget()

    async def execute(
        self,
        action: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        budget: RetryBudget | None = None,
        connection: str | None = None,
    ) -> Any:
        """Call any action; returns its `data`. Mutating actions are never retried.

        `budget` is shared by every call of one partition, so its retries together
        stay within `retry_budget_seconds`; without one, the call gets its own.
        `connection` calls another connection of the same API (a custom stream's)."""
        data, _ = await self.execute_reply(action, parameters, budget=budget, connection=connection)
        return data

    async def execute_reply(
        self,
        action: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        budget: RetryBudget | None = None,
        connection: str | None = None,
        quick: Quick | None = None,
    ) -> tuple[Any, bytes | None]:
        """`execute`, with the reply's bytes when they are plain JSON (None otherwise),
        for the writer to read the entries from them itself (`sinks.entries`). What
        `quick` reads of a success reply stands for its `data` (see `_interpret`)."""
        name = connection or self._connection
        url = self._url if connection is None else _execute_url(self._endpoint, connection)
        body = {"connectionName": name, "actionName": action}
        if parameters:
            body["parameters"] = dict(parameters)
        payload = orjson.dumps(body)

        async def attempt() -> tuple[Any, bytes | None]:
            self.requests += 1
            response = await self._gate.send(self._transport, "POST", url, self._headers(), payload)
            data, plain = _interpret(response, action, quick)
            return data, response.body if plain else None

        if action in MUTATING_ACTIONS:
            return await attempt()
        return await self._retry.call(attempt, what=action, budget=budget)

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

    async def get_project_executions(self, q: ExecutionsQuery, *, budget: RetryBudget | None = None) -> ExecutionsPage:
        data = await self.execute("get_project_executions", q.wire(), budget=budget)
        return _reply(ExecutionsPage, data, "get_project_executions", q.limit, "executions")

    async def get_project_consumption(self, q: ConsumptionQuery, *, budget: RetryBudget | None = None) -> Any:
        return await self.execute("get_project_consumption", q.wire(), budget=budget)

    async def log_page(self, action: str, q: LogQuery, *, budget: RetryBudget | None = None) -> LogPage:
        """Any of the six log actions; they share one reply shape."""
        data = await self.execute(action, q.wire(), budget=budget)
        return _reply(LogPage, data, action, q.limit, "entries")

    async def log_page_reply(self, action: str, q: LogQuery, *, budget: RetryBudget | None = None) -> LogReply:
        """`log_page` for the fetcher: a plain reply's entries stay bytes."""
        data, body = await self.execute_reply(action, q.wire(), budget=budget, quick=_log_head)
        if isinstance(data, LogReply):
            _check_count(data.count, q.limit, action, "entries")
            return data
        page = _reply(LogPage, data, action, q.limit, "entries")
        return LogReply(len(page.entries), page.next_cursor, body, [] if body is not None else page.entries)

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
