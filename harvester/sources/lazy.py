"""What every source shares about its API client: built on first use (inside the event
loop, so listing a source's tables or streams needs no token), the count of requests it
sent, and closing it — unless the caller handed the client in and owns it."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from ..config import Settings
from ..http import Gate

__all__ = ["LazyClient"]


class _Client(Protocol):
    requests: int

    async def aclose(self) -> None: ...


C = TypeVar("C", bound=_Client)


class LazyClient(Generic[C]):
    """Base of every source; a subclass says how to build its client (`_make_client`)."""

    def __init__(self, settings: Settings, gate: Gate | None = None, client: C | None = None) -> None:
        self._settings = settings
        self._gate = gate
        self._client = client
        self._own_client = client is None

    def _make_client(self) -> C:
        raise NotImplementedError

    @property
    def client(self) -> C:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    @property
    def requests(self) -> int:
        return self._client.requests if self._client else 0

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()

    def _run_gate(self) -> Gate:
        """The run's shared gate, or one of its own when used alone (`harvester call`)."""
        h = self._settings.harvest
        return self._gate or Gate(h.concurrency, h.requests_per_second)
