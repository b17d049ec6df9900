"""After-run alerts: what is new and notable, POSTed to a webhook through an outbox.

Each source declares its `Notable` queries (failed logins, errored connector calls,
failed executions, members added or removed, automations published or deleted,
flow error logs...). After a run the document below is committed to `_alerts`
(pending), then every pending alert is POSTed, oldest first:

    {"alert_id", "run_id", "status", "command", "window": {"since", "until"},
     "rows": {table: n}, "failed_partitions": [...],
     "notable": {name: {"table", "count", "examples": [<= 100 rows]}}}

`window` is what was harvested since the previous alert. No token is ever sent: the
webhook URL is the receiver's whole address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import structlog

from sinks import Warehouse
from sinks.schema import quote_ident

from .errors import FetchError, TransientError
from .http import Gate
from .retry import RetryPolicy
from .sources.base import Notable
from .timeutil import format_wire
from .transport import Transport

__all__ = ["MAX_EXAMPLES", "Notable", "build_alert", "deliver_alerts"]

MAX_EXAMPLES = 100
_RETRIES = 3  # a receiver down for longer is retried by the next run (the alert stays pending)
log = structlog.get_logger("harvester.alerts")


def build_alert(
    warehouse: Warehouse,
    notables: Iterable[Notable],
    *,
    run_id: str,
    status: str,
    command: str,
    rows: dict[str, int],
    failures: Sequence[str],
    cutoff: datetime,
) -> tuple[str, dict[str, Any]]:
    """The run's alert id and document, from SQL over the warehouse."""
    since = warehouse.alert_cutoff()
    notable = {n.name: _notable(warehouse, n, since, cutoff) for n in notables if n.table in warehouse.tables}
    document = {
        "alert_id": f"alert-{run_id}",
        "run_id": run_id,
        "status": status,
        "command": command,
        "window": {"since": _iso(since), "until": _iso(cutoff)},
        "rows": dict(sorted(rows.items())),
        "failed_partitions": list(failures[:MAX_EXAMPLES]),
        "notable": notable,
    }
    return document["alert_id"], document


def _notable(warehouse: Warehouse, n: Notable, since: datetime | None, cutoff: datetime) -> dict[str, Any]:
    stamp = quote_ident(n.since_column)
    where = f"({n.where}) AND {stamp} <= $cutoff" + (f" AND {stamp} > $since" if since else "")
    params: dict[str, Any] = {"cutoff": cutoff, **({"since": since} if since else {})}
    table = quote_ident(n.table)
    ((count,),) = warehouse.read(f"SELECT count(*) FROM {table} WHERE {where}", params)
    columns = ", ".join(quote_ident(c) for c in n.columns) or "*"
    cursor_rows = warehouse.read(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {stamp} DESC LIMIT {MAX_EXAMPLES}", params
    )
    names = list(n.columns) or [c.name for c in warehouse.tables[n.table].columns]
    return {
        "table": n.table,
        "count": int(count),
        "examples": [{k: _plain(v) for k, v in zip(names, row, strict=False)} for row in cursor_rows],
    }


def _plain(value: Any) -> Any:
    """A value JSON can carry: instants as wire text, JSON columns parsed back."""
    if isinstance(value, datetime):
        return format_wire(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _iso(value: datetime | None) -> str | None:
    return format_wire(value) if value else None


async def deliver_alerts(
    warehouse: Warehouse, transport: Transport, gate: Gate, webhook: str, *, read: Any, write: Any
) -> list[str]:
    """POST every pending alert, oldest first; return one-line reasons for the ones
    that failed (they stay pending for the next run). `read`/`write` run a warehouse
    call in the writer's thread."""
    failures: list[str] = []
    for alert_id, document in await read(warehouse.pending_alerts):
        error = await _post(transport, gate, webhook, document.encode())
        await write(warehouse.mark_alert, alert_id, error, datetime.now(UTC))
        if error is not None:
            failures.append(f"alert {alert_id} to {_host(webhook)}: {error}")
            log.error("alert.failed", alert_id=alert_id, error=error)
        else:
            log.info("alert.sent", alert_id=alert_id)
    return failures


async def _post(transport: Transport, gate: Gate, url: str, body: bytes) -> str | None:
    headers = {"Content-Type": "application/json"}

    async def attempt() -> None:
        response = await gate.send(transport, "POST", url, headers, body)
        if response.status in (408, 425, 429) or response.status >= 500:
            raise TransientError(f"HTTP {response.status}", status=response.status)
        if not 200 <= response.status < 300:
            raise FetchError(f"HTTP {response.status}", status=response.status)

    try:
        await RetryPolicy(max_retries=_RETRIES).call(attempt, what="alert webhook")
    except FetchError as exc:
        return str(exc)
    return None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
