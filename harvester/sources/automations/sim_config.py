"""What a simulated automations platform looks like and how badly its server behaves.

One frozen pydantic model, like the Abstra simulator's `SimConfig`, so a test says
what it needs in a line and `harvester simulate --source automations --config f.json`
can load the same from a file. The fault knobs mean what they mean there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...simulator.config import FAULT_KINDS, TRANSIENT_FAULTS

__all__ = ["AutomationsSimConfig"]

# the Abstra simulator's kinds; pydantic lists them when given another
FaultKind = Literal[FAULT_KINDS]  # type: ignore[valid-type]


class AutomationsSimConfig(BaseModel):
    """Every knob; all have defaults (2 workspaces x 40 automations, ~10% deleted).

    History spans `history_days` before `now`, the clock's start; `mutate` moves the
    clock on an hour at a time. Rates are per automation (per entry for
    `missing_id_rate`, the share of default-inputs entries that come without an id).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    organization_id: str = Field(default="org-1", min_length=1)
    workspaces: list[str] = Field(default_factory=lambda: ["ws-1", "ws-2"], min_length=1)
    automations_per_workspace: int = Field(default=40, ge=0, le=100_000)
    deleted_rate: float = Field(default=0.1, ge=0, le=1)
    schedule_rate: float = Field(default=0.5, ge=0, le=1)
    max_revisions: int = Field(default=6, ge=1)
    max_triggers: int = Field(default=3, ge=0)
    max_default_inputs: int = Field(default=4, ge=0)
    missing_id_rate: float = Field(default=0.25, ge=0, le=1)
    now: datetime = datetime(2025, 6, 1, tzinfo=UTC)
    history_days: int = Field(default=365, ge=1)
    users: tuple[str, ...] = ()  # who authors and publishes; empty: eight generated user ids
    token: str = Field(default="sim-token", min_length=1)
    latency_ms: float = Field(default=0, ge=0)
    rate_limit_rps: float = Field(default=0, ge=0)
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    fault_kinds: list[FaultKind] = Field(default_factory=lambda: list(TRANSIENT_FAULTS))
    hang_seconds: float = Field(default=30.0, ge=0)

    @field_validator("now")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("workspaces")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not all(value) or any("/" in ws for ws in value):
            raise ValueError("workspaces must be distinct, non-empty ids without '/'")
        return value
