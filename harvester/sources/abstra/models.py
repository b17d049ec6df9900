"""Pydantic models for action parameters and replies: the client's typed boundary.

Parameters are strict (a typo in a field name is a bug in our code). Replies allow
extra fields, because the API may grow: an unknown field is kept, not rejected.
Entries inside a page stay untyped (`list[Any]`) on purpose: each one is validated
alone by `records`, so one malformed entry costs one reject, not the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from ...timeutil import format_wire

__all__ = [
    "ConsumptionQuery",
    "ExecutionsPage",
    "ExecutionsQuery",
    "LogPage",
    "LogQuery",
    "MemberChange",
    "ProjectQuery",
    "ProjectLogQuery",
]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def wire(self) -> dict[str, Any]:
        """camelCase, no unset optionals: what goes in `parameters`."""
        return self.model_dump(by_alias=True, exclude_none=True)


class _Window(_Params):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")

    @field_serializer("start", "end")
    def _wire_time(self, value: datetime) -> str:
        return format_wire(value)


class LogQuery(_Window):
    limit: int | None = None
    cursor: str | None = None
    event: str | None = None
    project_id: str | None = Field(default=None, alias="projectId")
    status: str | None = None
    email: str | None = None
    kind: str | None = None
    source: str | None = None
    errored: bool | None = None


class ProjectLogQuery(LogQuery):
    project_ids: list[str] = Field(alias="projectIds", min_length=1, max_length=100)


class ExecutionsQuery(_Window):
    project_id: str = Field(alias="projectId")
    limit: int | None = None
    offset: int | None = None


class ConsumptionQuery(_Window):
    project_id: str = Field(alias="projectId")


class ProjectQuery(_Params):
    project_id: str = Field(alias="projectId")


class MemberChange(_Params):
    email: str
    folder_ids: list[str] | None = Field(default=None, alias="folderIds")


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class LogPage(_Reply):
    entries: list[Any] = Field(default_factory=list)
    next_cursor: Any = Field(default=None, alias="nextCursor")


class ExecutionsPage(_Reply):
    executions: list[Any] = Field(default_factory=list)
    total_count: Any = Field(default=None, alias="totalCount")
