"""Logging: structlog, configured once at the CLI entry point.

A pipeline of small processors, each with one job: merge the worker's bound context,
stamp the time and level, scrub the token, render. On a terminal lines are for people;
under cron (no TTY) they are JSON, one object per line, for machines.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

__all__ = ["REDACTED", "UNAMBIGUOUS_LENGTH", "configure_logging", "redact_secrets"]

REDACTED = "[REDACTED]"
UNAMBIGUOUS_LENGTH = 8  # a secret this long never occurs by chance inside ordinary log text

EventDict = MutableMapping[str, Any]
Processor = Callable[[Any, str, EventDict], EventDict]


def redact_secrets(*secrets: str) -> Processor:
    """A processor that replaces a secret wherever it can occur in any logged value.

    Defence in depth: nothing should log the token in the first place, but an error
    message quoting a request could, and a log file outlives the mistake. A secret of
    `UNAMBIGUOUS_LENGTH` characters or more is replaced anywhere; a shorter one only
    where it stands as a whole token (between non-alphanumerics, as in a header value
    `Bearer t`, a URL `?token=t&` or a repr `'t'`), so a 1-character token does not
    turn every "t" of the log into `[REDACTED]`.
    """
    pattern = _secrets_pattern(secrets)

    def processor(_logger: Any, _name: str, event: EventDict) -> EventDict:
        if pattern is None:
            return event
        for key, value in event.items():
            text = value if isinstance(value, str) else None
            if text is None and not isinstance(value, int | float | bool | type(None)):
                text = str(value)
            if text is not None:
                scrubbed = pattern.sub(REDACTED, text)
                if scrubbed != text:
                    event[key] = scrubbed
        return event

    return processor


def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for every secret: long ones as plain text, short ones as whole tokens."""
    parts = [
        re.escape(s) if len(s) >= UNAMBIGUOUS_LENGTH else rf"(?<![^\W_]){re.escape(s)}(?![^\W_])"
        for s in sorted({s for s in secrets if s}, key=len, reverse=True)
    ]
    return re.compile("|".join(parts)) if parts else None


def _json_renderer(_logger: Any, _name: str, event: EventDict) -> str:
    return orjson.dumps(event, default=str).decode()


def configure_logging(
    *, json: bool | None = None, level: str = "info", secrets: tuple[str, ...] = (), stream: TextIO | None = None
) -> None:
    """Set up structlog for this process. `json=None` picks by whether stderr is a TTY."""
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: Processor = (
        _json_renderer if as_json else structlog.dev.ConsoleRenderer(colors=out.isatty())  # type: ignore[assignment]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets(*secrets),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
