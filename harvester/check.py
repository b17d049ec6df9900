"""`harvester check`: is this setup ready for a harvest? Asked of every configured
source and of the storage, without harvesting anything.

Why it exists: a wrong connection name, a token of another organization or a
connector whose actions were renamed otherwise shows up as a failed first backfill,
hours in. Each check is one `Check` (name, ok, detail, fix); the CLI prints one line
per check and exits with the most specific code among the failures (auth 3, config 2,
anything else 1).

Every request goes through the project's transport (no redirects, capped replies),
one attempt each with a short timeout: a check reports what is, it does not retry
its way past it. No line is built from a request header, so none holds a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from .config import ApiSettings, Settings
from .errors import ExitCode, RedirectError, TransientError
from .http import refuse_redirect, transport_for
from .transport import AiohttpTransport, Response

__all__ = ["Check", "Prober", "Reached", "exit_code_of", "reach", "render", "run_checks"]

CHECK_TIMEOUT_SECONDS = 30.0  # a setup that needs longer to answer one GET is worth a ✗


@dataclass(frozen=True)
class Check:
    """One line of `harvester check`. `code` is the exit code a failure stands for;
    `warn` marks a pass worth a look (printed `!`, exit code unaffected)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    code: ExitCode = ExitCode.PARTIAL
    warn: bool = False

    @classmethod
    def passed(cls, name: str, detail: str, *, warn: bool = False) -> Check:
        return cls(name, True, detail, warn=warn)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str = "", code: ExitCode = ExitCode.PARTIAL) -> Check:
        return cls(name, False, detail, fix, code)


def render(check: Check) -> str:
    """`✓ name: detail`, `! name: detail` or `✗ name: detail; fix: ...`."""
    mark = "✗" if not check.ok else "!" if check.warn else "✓"
    line = f"{mark} {check.name}: {check.detail}"
    return f"{line}; fix: {check.fix}" if not check.ok and check.fix else line


def exit_code_of(checks: Iterable[Check]) -> ExitCode:
    """0 when every check passed; else auth (3) over config (2) over the rest (1):
    the code of the failure a person must fix first."""
    codes = {c.code for c in checks if not c.ok}
    for code in (ExitCode.AUTH, ExitCode.CONFIG):
        if code in codes:
            return code
    return ExitCode.PARTIAL if codes else ExitCode.OK


async def run_checks(settings: Settings) -> list[Check]:
    """Every configured source's checks, then the storage's, in config order."""
    from .check_abstra import check_abstra
    from .check_apis import check_automations, check_flows
    from .check_storage import check_storage

    checks: list[Check] = []
    if settings.abstra is not None:
        checks += await check_abstra(settings)
    if settings.automations is not None:
        checks += await check_automations(settings.automations)
    if settings.flows is not None:
        checks += await check_flows(settings.flows)
    return checks + check_storage(settings.warehouse)


class Prober:
    """Single-attempt GETs to one API section, with its auth header (when a token is
    set) and the project's transport; use as `async with Prober(...) as p:`."""

    def __init__(self, section: str, api: ApiSettings, token_env: str, header: str = "Authorization") -> None:
        self.section = section
        self.endpoint = api.endpoint
        self.token_env = token_env
        self.has_token = api.token is not None and bool(api.token.get_secret_value())
        self._headers = {"Accept": "application/json"}
        if self.has_token:
            assert api.token is not None
            self._headers[header] = f"Bearer {api.token.get_secret_value()}"
        short = min(api.timeout_seconds, CHECK_TIMEOUT_SECONDS)
        quick = api.model_copy(update={"timeout_seconds": short, "read_timeout_seconds": short})
        self._transport: AiohttpTransport = transport_for(quick, pool_size=2)

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.aclose()

    @property
    def transport(self) -> AiohttpTransport:
        return self._transport

    def name(self, what: str) -> str:
        return f"[{self.section}] {what}"

    async def get(self, path: str) -> Response:
        """GET `endpoint + path`; a redirect is a RedirectError (never followed), a
        failure to connect a TransientError."""
        response = await self._transport.request("GET", self.endpoint + path, self._headers, b"")
        refuse_redirect(response, f"GET {path.split('?')[0]}", f"check [{self.section}] endpoint")
        return response


@dataclass(frozen=True)
class Reached:
    """What the first request to an API told: its lines (endpoint, token), the reply
    (None when nothing answered) and whether the token was accepted."""

    checks: list[Check]
    response: Response | None
    authorized: bool


async def reach(prober: Prober, path: str) -> Reached:
    """The endpoint line (reachable, TLS) and the token line, from one GET of `path`."""
    endpoint = prober.name("endpoint")
    try:
        response = await prober.get(path)
    except TransientError as exc:
        return Reached([_unreachable(prober, exc)], None, False)
    except RedirectError as exc:
        return Reached([Check.failed(endpoint, str(exc), code=exc.exit_code)], None, False)
    tls = ", TLS ok" if prober.endpoint.startswith("https://") else ""
    checks = [Check.passed(endpoint, f"{prober.endpoint} answers (HTTP {response.status}{tls})")]
    token = _token_check(prober, response.status)
    if token is not None:
        checks.append(token)
    return Reached(checks, response, token is not None and token.ok)


def _token_check(prober: Prober, status: int) -> Check | None:
    """✗ when unset or refused, ✓ on a 2xx; None when the reply cannot tell (a 404 or
    5xx: the lines after say what went wrong)."""
    name, variable = prober.name("token"), prober.token_env
    if not prober.has_token:
        return Check.failed(name, f"{variable} is not set", f"export {variable}=<your token>", ExitCode.CONFIG)
    if status in (401, 403):
        return Check.failed(
            name, f"refused by the API (HTTP {status})",
            f"set {variable} to a valid token of this organization", ExitCode.AUTH,
        )
    return Check.passed(name, f"accepted ({variable})") if 200 <= status < 300 else None


def _unreachable(prober: Prober, exc: TransientError) -> Check:
    """A connection that failed: TLS named as such (its own fix), else the cause."""
    name = prober.name("endpoint")
    host = urlsplit(prober.endpoint).netloc
    tls = _tls_failure(exc)
    if tls is not None:
        return Check.failed(
            name, f"TLS failed for {host}: {tls}",
            f"the server's certificate is not trusted here: fix it, or check [{prober.section}] endpoint",
        )
    return Check.failed(
        name, f"cannot reach {prober.endpoint}: {exc}",
        f"check [{prober.section}] endpoint and that this machine can reach it",
    )


def _tls_failure(exc: BaseException) -> str | None:
    """The TLS reason behind a failed connection, or None. The transport keeps the
    aiohttp error as the context of its TransientError (`raise ... from None`)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorCertificateError):
            cert = seen.certificate_error
            return getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or "certificate rejected"
        if isinstance(seen, aiohttp.ClientSSLError):
            return "TLS handshake failed"
        seen = seen.__context__
    return None
