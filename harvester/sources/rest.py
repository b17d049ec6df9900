"""The base of every source over a bearer-token REST API: its client is the GET-only
`RestClient` of its config section."""

from __future__ import annotations

from ..config import ApiSettings, Settings
from ..http import Gate, RestClient, rest_client
from .lazy import LazyClient

__all__ = ["RestSource"]


class RestSource(LazyClient[RestClient]):
    """Base of the automations and flows sources; `token_env` names the token's variable."""

    token_env: str

    def __init__(self, settings: Settings, api: ApiSettings, gate: Gate | None = None) -> None:
        super().__init__(settings, gate)
        self._rest_api = api

    def _make_client(self) -> RestClient:
        return rest_client(self._rest_api, self.token_env, self._run_gate(), self._settings.harvest.concurrency)
