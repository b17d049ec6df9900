"""The simulator's connections and the read-only discovery endpoints (API_NOTES).

Besides the Manager connection (`SimConfig.connection`, its 16 actions), the
simulated project has two HTTP connections, whose only action is the seed's
`custom`, and a database connection, whose `custom` answers the seed's
`Connector "postgres" does not support the "custom" action.`

Discovery, under `{endpoint}/cli/` with the same `Api-Authorization` header:

    GET connectors/connections                            [{"name", "connectionType"}]
    GET connectors/connection/{name}/actions?search=&page=&pageSize=
                                                          {"data": [names], "page", "pageSize"}
    GET connectors/connection/{name}/action/{action}      {"name", "description", "payloadSchema", ...}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

from .actions import ACTIONS, ActionError, Reply, execute, unknown_action
from .config import LOG_ACTIONS, SimConfig
from .custom import run_custom
from .entities import INVENTORY_ACTIONS
from .org import Org
from .upstream import Upstream

__all__ = [
    "DISCOVERY_ROUTES",
    "Connection",
    "action_detail",
    "action_names",
    "add_discovery_routes",
    "connections",
    "run_action",
]

DISCOVERY_ROUTES = (
    "/cli/connectors/connections",
    "/cli/connectors/connection/{connection}/actions",
    "/cli/connectors/connection/{connection}/action/{action}",
)

Kind = Literal["manager", "http", "database"]


@dataclass(frozen=True)
class Connection:
    name: str
    connection_type: str
    kind: Kind
    renamed: tuple[tuple[str, str], ...] = ()  # (real Manager action, the name it is offered under)
    hidden: tuple[str, ...] = ()  # Manager actions this connection lacks

    def offered(self) -> dict[str, str]:
        """The Manager actions as offered → the real action behind each."""
        names = dict(self.renamed)
        return {names.get(a, a): a for a in ACTIONS if a not in self.hidden}


_OTHER_CONNECTIONS = (
    Connection("sim-github", "github", "http"),
    Connection("sim-pages", "http_api", "http"),
    Connection("sim-postgres", "postgres", "database"),
)
_WINDOW = {"from": "ISO-8601 UTC start", "to": "ISO-8601 UTC end (at most 31 days after from)"}
_PROJECT = {"projectId": "a project id"}
_CUSTOM_SCHEMA = {
    "type": "object",
    "properties": {
        "_url": {"type": "string", "description": "Full URL (must start with http:// or https://)."},
        "_method": {"type": "string", "description": "Forces the HTTP method (GET, POST, PUT, PATCH, DELETE, ...)."},
        "_query": {"type": "object", "description": "Appended to the URL as query string."},
        "_body": {"description": "Sent as the request body. Overrides the rest params behavior."},
        "_headers": {"type": "object", "description": "Merged on top of default headers."},
    },
    "required": ["_url"],
    "additionalProperties": True,
}


def connections(config: SimConfig) -> dict[str, Connection]:
    """Every connection of the simulated project, by name; the Manager one shaped by
    `hidden_actions` and `renamed_actions`."""
    manager = Connection(config.connection, "abstra-manager", "manager",
                         tuple(config.renamed_actions.items()), config.hidden_actions)
    return {c.name: c for c in (manager, *_OTHER_CONNECTIONS)}


def run_action(org: Org, upstream: Upstream, connection: Connection, action: object, params: object) -> Reply:
    """One `execute` call on `connection`; ActionError carries the API's message."""
    if connection.kind == "manager":
        offered = connection.offered()
        if isinstance(action, str) and action not in offered:
            raise unknown_action(action)
        return execute(org, offered.get(action, action) if isinstance(action, str) else action, params)
    if action != "custom":
        raise unknown_action(action)
    if connection.kind == "database":
        raise ActionError(
            f'Connector "{connection.connection_type}" does not support the "custom" action.', http_status=400
        )
    if params is not None and not isinstance(params, Mapping):
        raise ActionError("Invalid 'parameters': expected an object")
    return run_custom(upstream, params or {})


def action_names(connection: Connection) -> list[str]:
    if connection.kind == "manager":
        return list(connection.offered())
    return ["custom"] if connection.kind == "http" else ["run_query"]


def action_detail(connection: Connection, action: str) -> dict[str, Any] | None:
    """What `GET .../action/{action}` answers, or None for an action it lacks."""
    if action not in action_names(connection):
        return None
    if action == "custom":
        return {"name": "custom", "description": "Call any endpoint of the connected service.",
                "payloadSchema": _CUSTOM_SCHEMA}
    if action == "run_query":
        return {"name": action, "description": "Run a SQL query.",
                "payloadSchema": _schema({"query": "SQL text"}, required=("query",))}
    params, required = _manager_params(connection.offered()[action])
    return {"name": action, "description": action.replace("_", " ").capitalize() + ".",
            "payloadSchema": _schema(params, required), "returnType": "object"}


def _manager_params(action: str) -> tuple[dict[str, str], tuple[str, ...]]:
    if action in LOG_ACTIONS:
        extra = {"projectIds": "project ids, at most 100"} if action == "get_project_action_logs" else {}
        return {**_WINDOW, "limit": "page size", "cursor": "nextCursor of the previous page", **extra}, (
            "from", "to", *extra)
    if action == "get_project_executions":
        return {**_PROJECT, **_WINDOW, "limit": "page size", "offset": "rows to skip"}, ("projectId", "from", "to")
    if action == "get_project_consumption":
        return {**_PROJECT, **_WINDOW}, ("projectId", "from", "to")
    if action in INVENTORY_ACTIONS:
        return dict(_PROJECT), ("projectId",)
    if action in ("add_member", "remove_member"):
        extra = {"folderIds": "folder ids"} if action == "add_member" else {}
        return {"email": "member email", **extra}, ("email",)
    return {}, ()


def _schema(params: Mapping[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"description": v} for k, v in params.items()},
            "required": list(required)}


def add_discovery_routes(
    app: web.Application,
    known: Mapping[str, Connection],
    authorized: Callable[[web.Request], bool],
    count: Callable[[str], None],
) -> None:
    """The three GET routes, behind the same token check as `execute`."""

    def guarded(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            count("discovery")
            if not authorized(request):
                return _json({"status": "error", "message": "Unauthorized: invalid API token"}, 401)
            name = request.match_info.get("connection")
            if name is not None and name not in known:
                return _json({"status": "error", "message": f"Connection '{name[:100]}' not found"}, 404)
            return handler(request)

        return route

    def list_connections(request: web.Request) -> web.Response:
        return _json([{"name": c.name, "connectionType": c.connection_type} for c in known.values()])

    def list_actions(request: web.Request) -> web.Response:
        search = request.query.get("search", "").lower()
        page, size = _positive(request, "page", 1), _positive(request, "pageSize", 50)
        if page is None or size is None:
            return _json({"status": "error", "message": "page and pageSize must be positive integers"}, 400)
        names = [n for n in action_names(known[request.match_info["connection"]]) if search in n.lower()]
        return _json({"data": names[(page - 1) * size : page * size], "page": page, "pageSize": size})

    def show_action(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        detail = action_detail(known[request.match_info["connection"]], action)
        if detail is None:
            return _json({"status": "error", "message": f"Action '{action[:100]}' not found"}, 404)
        return _json(detail)

    app.router.add_get(DISCOVERY_ROUTES[0], guarded(list_connections))
    app.router.add_get(DISCOVERY_ROUTES[1], guarded(list_actions))
    app.router.add_get(DISCOVERY_ROUTES[2], guarded(show_action))


def _positive(request: web.Request, name: str, default: int) -> int | None:
    text = request.query.get(name, "")
    if text == "":
        return default
    return int(text) if text.isdigit() and int(text) > 0 else None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")
