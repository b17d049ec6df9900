"""`[[custom]]` entries: one HTTP stream each, declared in config (issue 9's contract).

Validation is strict and happens before anything is fetched: unknown keys, a bad
name, a URL the SSRF rule refuses, a query key that a paging or window parameter
would overwrite. Each problem is one line naming the stream, so a user with five
streams knows which entry to fix (`[[custom]] github_audit: url ...`).

A harvest only reads, so `method` is GET or POST (POST for search endpoints that
take their filter as a body); PUT, PATCH and DELETE change the upstream service and
are refused here, whatever the `custom` action itself would accept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ...errors import ConfigError
from .ssrf import SsrfError, check_url

__all__ = [
    "CursorSpec",
    "CustomStream",
    "NextUrlSpec",
    "NoPaging",
    "OffsetSpec",
    "PageSpec",
    "PagingSpec",
    "WindowSpec",
    "validate_streams",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_READ_METHODS = ("GET", "POST")


def _dotted(value: str) -> str:
    """A dotted path into a reply (`data.items`, `meta.next`); no empty segment."""
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{value!r} is not a dotted path like data.items")
    return value


def _dotted_or_whole(value: str) -> str:
    """`records` may be "" for "the reply itself"."""
    return value if value == "" else _dotted(value)


def _param(value: str) -> str:
    if not value or not value.strip() or value != value.strip():
        raise ValueError(f"{value!r} is not a query parameter name")
    return value


Dotted = Annotated[str, AfterValidator(_dotted)]
Param = Annotated[str, AfterValidator(_param)]
Scalar = bool | int | float | str
QueryValue = Scalar | list[Scalar]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoPaging(_Strict):
    """One request is the whole stream."""

    kind: Literal["none"] = "none"


class CursorSpec(_Strict):
    """`param` carries the cursor read from `next` in the previous reply."""

    kind: Literal["cursor"]
    param: Param
    next: Dotted


class PageSpec(_Strict):
    """Page numbers from `start`; `size_param` (optional) carries the page size."""

    kind: Literal["page"]
    param: Param
    start: int = Field(default=1, ge=0)
    size_param: Param | None = None


class OffsetSpec(_Strict):
    """Offsets from 0 in steps of the records received; `total` (optional) is the
    dotted path of the reply's total count, which ends the chain once reached."""

    kind: Literal["offset"]
    param: Param
    size_param: Param
    total: Dotted | None = None


class NextUrlSpec(_Strict):
    """The reply carries the full URL of the next page at `next`."""

    kind: Literal["next_url"]
    next: Dotted


PagingSpec = Annotated[NoPaging | CursorSpec | PageSpec | OffsetSpec | NextUrlSpec, Field(discriminator="kind")]


class WindowSpec(_Strict):
    """Query parameters that bound a request in time, and how instants are written."""

    from_: Param = Field(alias="from")
    to: Param
    format: Literal["iso", "date", "epoch_s", "epoch_ms"] = "iso"


class CustomStream(_Strict):
    """One `[[custom]]` entry. Its table is `custom_<name>`."""

    name: str
    connection: str
    url: str
    method: str | None = None
    query: dict[str, QueryValue] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    records: Annotated[str, AfterValidator(_dotted_or_whole)] = ""
    id: Dotted | None = None
    time: Dotted | None = None
    paging: PagingSpec = Field(default_factory=NoPaging)
    window: WindowSpec | None = None
    slice_days: int = Field(default=31, ge=1, le=31)
    # Records asked for per page by `page` (with size_param) and `offset` paging; None:
    # [harvest] page_size. Upstream APIs cap it (GitHub at 100), unlike the Manager's.
    page_size: int | None = Field(default=None, ge=1, le=10_000)

    @property
    def table(self) -> str:
        return f"custom_{self.name}"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value[:40]!r} must match [a-z][a-z0-9_]* (it names the table custom_<name>)")
        return value

    @field_validator("connection")
    @classmethod
    def _connection(cls, value: str) -> str:
        if value.strip() in ("", ".", ".."):
            raise ValueError(f"{value!r} is not a connection name")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return check_url(value)
        except SsrfError as exc:
            raise ValueError(str(exc).removeprefix("url ")) from None

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is None:
            return None
        method = value.upper()
        if method not in _READ_METHODS:
            raise ValueError(f"{value[:20]!r} is not allowed: a harvest only reads, so use GET or POST")
        return method

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name[:40]!r} is not a header name")
            if any(c in text for c in "\r\n\0"):
                raise ValueError(f"the value of {name} holds a line break")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CustomStream:
        if self.method == "GET" and self.body is not None:
            raise ValueError("body needs method POST (a GET request has no body)")
        taken: dict[str, str] = {}
        for owner, param in self._dynamic_params():
            if param in self.query:
                raise ValueError(f"query key {param!r} is also {owner}: remove it from query")
            if param in taken:
                raise ValueError(f"{owner} and {taken[param]} are both {param!r}")
            taken[param] = owner
        return self

    def _dynamic_params(self) -> list[tuple[str, str]]:
        """(what sets it, parameter name) for every query parameter set per request."""
        found: list[tuple[str, str]] = []
        if self.window is not None:
            found += [("window.from", self.window.from_), ("window.to", self.window.to)]
        for attr in ("param", "size_param"):
            value = getattr(self.paging, attr, None)
            if value is not None:
                found.append((f"paging.{attr}", value))
        return found


def validate_streams(entries: Sequence[Any]) -> tuple[CustomStream, ...]:
    """Every `[[custom]]` entry validated, names unique; ConfigError (one line) otherwise."""
    if not isinstance(entries, list | tuple):
        raise ConfigError("custom: must be a list of tables ([[custom]]), not a single value")
    streams: list[CustomStream] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        label = _label(entry, index)
        if not isinstance(entry, dict):
            raise ConfigError(f"[[custom]] {label}: must be a table of keys, not a single value")
        try:
            stream = CustomStream.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"[[custom]] {label}: {_one_line(exc)}") from None
        if stream.name in seen:
            raise ConfigError(f"[[custom]] {stream.name}: name is used by another [[custom]] entry; names must be unique")
        seen.add(stream.name)
        streams.append(stream)
    return tuple(streams)


def _label(entry: Any, index: int) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) and _NAME.match(name) else f"#{index}"


def _one_line(exc: ValidationError) -> str:
    """The first problem as `where: what`. Input values are never echoed: a header
    value may be a credential."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if len(loc) > 1 and loc[0] == "paging" and loc[1] in ("none", "cursor", "page", "offset", "next_url"):
        del loc[1]  # the discriminator tag pydantic adds to the location
    if loc and loc[-1] == "from_":
        loc[-1] = "from"
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling"
    elif err["type"] == "missing":
        message = "missing; it is required"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
