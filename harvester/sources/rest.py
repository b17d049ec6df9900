"""What every source over a bearer-token REST API shares: its GET-only client, built on
first use (inside the event loop, so listing a source's tables needs no token), the
count of requests it sent, and closing it."""

from __future__ import annotations

from ..config import ApiSettings, Settings
from ..http import Gate, RestClient, rest_client

__all__ = ["RestSource"]


class RestSource:
    """Base of the automations and flows sources; `token_env` names the token's variable."""

    token_env: str

    def __init__(self, settings: Settings, api: ApiSettings, gate: Gate | None = None) -> None:
        self._settings = settings
        self._rest_api = api
        self._gate = gate
        self._client: RestClient | None = None

    @property
    def client(self) -> RestClient:
        if self._client is None:
            h = self._settings.harvest
            gate = self._gate or Gate(h.concurrency, h.requests_per_second)
            self._client = rest_client(self._rest_api, self.token_env, gate, h.concurrency)
        return self._client

    @property
    def requests(self) -> int:
        return self._client.requests if self._client else 0

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
