"""The `parameters` of one `custom` call (seed 002), and how the action reads them back.

`build_parameters` turns a stream's request (url, method, query, headers, body) plus
the page's paging and window parameters into the object sent to `execute`:

    _url      the stream's URL as written (an existing query string stays in it), or
              the full next-page URL of `next_url` paging
    _method   only when the config sets a method or a body is sent
    _query    config query + window params + paging params
    _body     the config's body, when it has one
    _headers  the config's headers, when it has any

Why `_query` and never rest params: the seed sends rest params to the query for
GET/DELETE/HEAD but to a JSON body for POST/PUT/PATCH, and picks POST by default as
soon as there is one. `_query` is "appended to the URL as query string, even when the
method has a body", so the same object is right for every method: a GET stays a GET
with no `_method` needed, and a POST search keeps its paging in the query while its
filter travels in `_body`. Why `_method` whenever a body is sent: with empty rest
params the seed's default is GET, and a reading in which `_body` alone makes it a
POST is only implied by an example; stating the method makes both readings agree.

A `next_url` page sends that URL alone, with no `_query`: the upstream built it to
carry its whole query, and appending ours would repeat every parameter.

`resolve(parameters)` is the inverse, the seed's rules as the action applies them;
tests check every seed example against it, and the simulator has its own reading
written separately, so the two are checked against each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import orjson

from .ssrf import SsrfError, check_url, url_host

__all__ = [
    "CustomCall",
    "CustomRequestError",
    "HttpRequest",
    "RESERVED",
    "RequestShape",
    "build_parameters",
    "call_parameters",
    "query_string",
    "resolve",
]

RESERVED = ("_url", "_method", "_query", "_body", "_headers")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_URL_REQUIRED = 'Bad Request: The "custom" action requires "_url" (a full http:// or https:// URL)'


class RequestShape(Protocol):
    """What a request needs from its declaration (a `CustomStream`, a `CustomCall`)."""

    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str | None: ...
    @property
    def query(self) -> Mapping[str, Any]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> Any: ...


@dataclass(frozen=True)
class CustomCall:
    """A one-off request (`harvester call --custom`), shaped like a stream's."""

    url: str
    method: str | None = None
    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class HttpRequest:
    """The upstream request a `custom` call makes. `body` None means no body."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any = None


class CustomRequestError(ValueError):
    """The action would refuse these parameters; the message is the seed's."""


def build_parameters(
    shape: RequestShape, page: Mapping[str, Any] | None = None, window: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `parameters` object for one page (see the module docstring for the rules).

    `page` is `Paging.params()` (it may hold `_url`, the next page's full URL);
    `window` the formatted time-window parameters.
    """
    page = dict(page or {})
    next_url = page.pop("_url", None)
    params: dict[str, Any] = {"_url": next_url if next_url is not None else shape.url}
    if shape.method is not None or shape.body is not None:
        params["_method"] = (shape.method or "POST").upper()
    query = {} if next_url is not None else {**shape.query, **(window or {}), **page}
    if query:
        params["_query"] = query
    if shape.body is not None:
        params["_body"] = shape.body
    if shape.headers:
        params["_headers"] = dict(shape.headers)
    return params


def call_parameters(call: CustomCall, rest: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a one-off call (`harvester call --custom`): `call` as a
    stream's request, plus `rest` params that flow as the seed says (the query for
    GET, a JSON body otherwise). SsrfError for a URL the rule refuses, before any
    request; CustomRequestError for a rest key the seed reserves."""
    check_url(call.url)
    reserved = sorted(k for k in rest if k.startswith("_"))
    if reserved:
        raise CustomRequestError(f"{reserved[0]!r}: keys starting with _ are reserved; use --method, --query, --header")
    return {**build_parameters(call), **rest}


def resolve(parameters: Mapping[str, Any]) -> HttpRequest:
    """The HTTP request the `custom` action makes for `parameters` (seed 002).

    - method: `_method`, else GET for empty rest params and POST for non-empty ones
      (or when `_body` is given: the seed's Content-Type example is a POST);
    - rest params (keys not starting with `_`, which the seed reserves): the JSON body for POST/PUT/PATCH, the query string otherwise; with
      `_body` they cannot be the body, so they go to the query;
    - `_query` is appended after the URL's own query string, whatever the method;
    - `Content-Type: application/json` for POST/PUT/PATCH; `_headers` on top,
      replacing a default of the same name in any case.
    CustomRequestError with the seed's message for a missing/non-http(s) `_url` or a
    blocked IP literal.
    """
    url = parameters.get("_url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise CustomRequestError(_URL_REQUIRED)
    try:
        url_host(url)
    except SsrfError as exc:
        raise CustomRequestError(_refusal(exc)) from None
    rest = {k: v for k, v in parameters.items() if not k.startswith("_")}
    has_body = parameters.get("_body") is not None
    method = str(parameters.get("_method") or ("POST" if rest or has_body else "GET")).upper()
    rest_in_body = method in _BODY_METHODS and not has_body
    query = [*([] if rest_in_body else _pairs(rest)), *_pairs(_mapping(parameters, "_query"))]
    headers = {"Content-Type": "application/json"} if method in _BODY_METHODS else {}
    for name, value in _mapping(parameters, "_headers").items():
        headers = {k: v for k, v in headers.items() if k.lower() != str(name).lower()}
        headers[str(name)] = str(value)
    body = parameters["_body"] if has_body else (rest if rest_in_body else None)
    return HttpRequest(method, _with_query(url, query), headers, body)


def query_string(values: Mapping[str, Any]) -> str:
    """`values` as a query string, written as the action writes them (see `_pairs`)."""
    return urlencode(_pairs(values), quote_via=quote)


def _pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query pairs: booleans as true/false (the seed's `dry_run=true`), a list as the
    key repeated, objects as JSON text, null left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((str(key), _text(item)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _mapping(parameters: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parameters.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CustomRequestError(f'Bad Request: "{key}" must be an object')
    return value


def _with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    """`url` with `pairs` appended after its own query string; the fragment is dropped
    (a fragment never leaves the client)."""
    parts = urlsplit(url)
    extra = urlencode(pairs, quote_via=quote)
    query = "&".join(q for q in (parts.query, extra) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _refusal(exc: SsrfError) -> str:
    """The seed's message for a blocked address, or its `_url` message for a URL that
    cannot be read unambiguously."""
    if exc.address is None:
        return _URL_REQUIRED
    return f'Bad Request: The "custom" action cannot target the internal IP {exc.address}'
