"""`harvester check` for the REST sources: `[automations]` (seed 001) and `[flows]` (seed 003).

Each is asked its cheapest read once per configured scope: the automations list
(`page_size=1`) of every workspace, the logs of every flows tenant. The first answer
also tells whether the endpoint is reachable and the token accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

from .check import Check, Prober, reach
from .config import ApiSettings, AutomationsSettings, FlowsSettings
from .errors import ExitCode, HarvestError
from .http import NotFoundError, interpret_rest, segment

__all__ = ["check_automations", "check_flows"]

from .sources.automations.source import TOKEN_ENV as AUTOMATIONS_TOKEN_ENV
from .sources.flows.source import TOKEN_ENV as FLOWS_TOKEN_ENV


async def check_automations(api: AutomationsSettings) -> list[Check]:
    """Every workspace's automations list answers (one automation at most)."""
    org = segment(api.organization_id)
    scopes = [
        (f"workspace {ws}", f"/api/v1/organizations/{org}/workspaces/{segment(ws)}/automations?page_size=1")
        for ws in api.workspaces
    ]
    fix = "check [automations] organization_id and workspaces"
    return await _scopes("automations", api, AUTOMATIONS_TOKEN_ENV, scopes, fix)


async def check_flows(api: FlowsSettings) -> list[Check]:
    """Every tenant's logs answer."""
    scopes = [(f"tenant {t}", f"/logs?filter%5Btenant%5D={segment(t)}") for t in api.tenants]
    return await _scopes("flows", api, FLOWS_TOKEN_ENV, scopes, "check [flows] tenants")


async def _scopes(
    section: str, api: ApiSettings, token_env: str, scopes: Sequence[tuple[str, str]], fix: str
) -> list[Check]:
    """Endpoint and token from the first scope's GET, then one line per scope."""
    async with Prober(section, api, token_env) as prober:
        reached = await reach(prober, scopes[0][1])
        checks = list(reached.checks)
        if reached.response is None or reached.response.status in (401, 403) or not prober.has_token:
            return checks
        for label, path in scopes:
            checks.append(await _scope(prober, label, path, fix))
        return checks


async def _scope(prober: Prober, label: str, path: str, fix: str) -> Check:
    name = prober.name(label)
    try:
        interpret_rest(await prober.get(path), f"GET {path.split('?')[0]}", prober.token_env)
    except NotFoundError:
        return Check.failed(name, "not found (HTTP 404)", fix, ExitCode.CONFIG)
    except HarvestError as exc:
        return Check.failed(name, str(exc), code=exc.exit_code)
    return Check.passed(name, "answers")
