"""The `custom` action of the simulator's HTTP connections, written from seed 002 alone.

This reading of the seed is deliberately separate from the harvester's
(`harvester.sources.custom.request`): tests run the harvester's requests through
this one, so a misreading in either shows up as a disagreement. Where the seed is
silent this file picks: keys starting with `_` other than the five reserved ones are
dropped (the seed calls them reserved); `_body` without `_method` is a POST (the
seed's Content-Type example only makes sense for one); with `_body`, rest params go
to the query (they cannot be the body); a `null` query value is left out.

The blocked-address check resolves the host the way a C resolver would
(`inet_aton`, which reads `127.1`, `0x7f.1`, `0177.0.0.1` and `2130706433`), not
by parsing the spelling by hand as the harvester does.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from .actions import ActionError, Reply
from .upstream import Outgoing, Upstream

__all__ = ["BAD_URL", "blocked_address", "read_parameters", "run_custom"]

BAD_URL = 'Bad Request: The "custom" action requires "_url" (a full http:// or https:// URL)'
_RESERVED = frozenset({"_url", "_method", "_query", "_body", "_headers"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_UPSTREAM_BODY_LIMIT = 2000


def run_custom(upstream: Upstream, params: Mapping[str, Any]) -> Reply:
    """Send the request upstream; non-2xx is the seed's error with the upstream body."""
    outgoing = read_parameters(params)
    try:
        answer = upstream.handle(outgoing)
    except LookupError:
        raise ActionError(f"getaddrinfo ENOTFOUND {urlsplit(outgoing.url).hostname}") from None
    if not 200 <= answer.status < 300:
        body = json.dumps(answer.data)[:_UPSTREAM_BODY_LIMIT]
        raise ActionError(f"Request failed with status code {answer.status}: {body}")
    return Reply(data=answer.data)


def read_parameters(params: Mapping[str, Any]) -> Outgoing:
    """`parameters` → the upstream request, or ActionError (HTTP 400) as the seed says."""
    url = params.get("_url")
    if not isinstance(url, str):
        raise ActionError(BAD_URL, http_status=400)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise ActionError(BAD_URL, http_status=400) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ActionError(BAD_URL, http_status=400)
    blocked = blocked_address(hostname)
    if blocked is not None:
        raise ActionError(f'Bad Request: The "custom" action cannot target the internal IP {blocked}', http_status=400)
    rest = {k: v for k, v in params.items() if not k.startswith("_")}
    has_body = params.get("_body") is not None
    method = params.get("_method")
    if not isinstance(method, str) or not method:
        method = "POST" if (rest or has_body) else "GET"
    method = method.upper()
    body: Any = None
    query: list[tuple[str, str]] = []
    if has_body:
        body = params["_body"]
        query += _encode(rest)
    elif method in _WITH_BODY:
        body = rest
    else:
        query += _encode(rest)
    query += _encode(_object(params, "_query"))
    headers: dict[str, str] = {"Content-Type": "application/json"} if method in _WITH_BODY else {}
    for name, value in _object(params, "_headers").items():
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = str(value)
    return Outgoing(method, _append(url, query), headers, body)


def blocked_address(hostname: str) -> str | None:
    """The non-routable address `hostname` stands for, or None for a public one or a name."""
    host = unquote(hostname)
    if not host.isascii():
        try:
            host = host.encode("idna").decode()
        except UnicodeError:
            return None  # not a name any resolver would find
    host = host.lower().removesuffix(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    internal = (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified or not address.is_global
    )
    return str(address) if internal else None


def _object(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ActionError(f'Bad Request: "{key}" must be an object', http_status=400)
    return value


def _encode(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        items = value if isinstance(value, list) else [value]
        out += [(key, item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))) for item in items if item is not None]
    return out


def _append(url: str, query: list[tuple[str, str]]) -> str:
    base = url.split("#", 1)[0]
    if not query:
        return base
    extra = urlencode(query, quote_via=quote)
    joiner = "" if base.endswith(("?", "&")) else ("&" if "?" in base else "?")
    return base + joiner + extra

