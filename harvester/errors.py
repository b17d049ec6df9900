"""Every error the harvester raises on purpose, and the exit code each one maps to.

The tree is small so a caller can catch at the level it cares about::

    HarvestError                  exit 1 unless a subclass says otherwise
    ├── ConfigError               exit 2  bad config file, bad CLI argument
    ├── RunLockedError            exit 4  another run holds the warehouse
    ├── FetchError                        talking to the Abstra API failed
    │   ├── AuthError             exit 3  401/403: the token is missing or refused
    │   ├── ActionError                   the API answered status "error"
    │   │   └── WindowRefusedError        ... because the window or batch was too big
    │   ├── TransientError                worth retrying: 429, 5xx, reset, timeout, bad JSON
    │   ├── PagingError                   a cursor loop, a runaway chain, a cursor too long
    │   ├── ProtocolError                 a reply that breaks the contract: wrong shape, too many entries
    │   │   └── ReplyTooLargeError        ... or over `max_reply_mb` / `max_reply_values`
    │   └── RedirectError         exit 2  a 3xx: the endpoint is wrong (never followed)
    ├── SinkError                         the warehouse refused a write or a query
    │   └── StorageError          exit 5  the storage failed: disk full, corrupt file, out of memory
    └── CheckpointError                   stored state is unreadable or inconsistent

Messages are one line and say what to fix. None of them ever contains the token:
errors are built from status codes, action names and server messages, never from
request headers.
"""

from __future__ import annotations

from state.errors import (
    CheckpointError,
    ConfigError,
    ExitCode,
    HarvestError,
    RunLockedError,
    SinkError,
    StorageError,
)

__all__ = [
    "ActionError",
    "AuthError",
    "CheckpointError",
    "ConfigError",
    "ExitCode",
    "FetchError",
    "HarvestError",
    "PagingError",
    "ProtocolError",
    "RedirectError",
    "ReplyTooLargeError",
    "RunLockedError",
    "SinkError",
    "StorageError",
    "TransientError",
    "WindowRefusedError",
    "first_harvest_error",
    "is_fatal",
]


class FetchError(HarvestError):
    """A call to the API failed. `action` names the API action involved."""

    def __init__(self, message: str, *, action: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.status = status


class AuthError(FetchError):
    exit_code = ExitCode.AUTH


class ActionError(FetchError):
    """The API understood the call and refused it; retrying will not help."""


class WindowRefusedError(ActionError):
    """The server refused the date window or the project batch as too large."""


class TransientError(FetchError):
    """Worth retrying. `retry_after` is the server's requested wait in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        action: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, action=action, status=status)
        self.retry_after = retry_after


class PagingError(FetchError):
    """The API's paging went wrong in a way retries cannot fix (a loop, a runaway chain)."""


class ProtocolError(FetchError):
    """The reply broke the API's contract (wrong shape, more entries than asked for).

    Not transient: the same request would get the same reply, so the partition or
    snapshot fails at once and the next run tries again."""


class ReplyTooLargeError(ProtocolError):
    """The reply was larger than `max_reply_mb` (counted after decompression), or held
    more JSON values than `max_reply_values`, or, nested too deep for the parsers,
    more than their slow reading takes (`jsonscan.SHALLOW_MAX_VALUES`)."""


class RedirectError(FetchError):
    """The API answered with a redirect. It never needs one, so a redirect means the
    endpoint is wrong (or hostile): never followed, and a configuration problem."""

    exit_code = ExitCode.CONFIG


def is_fatal(exc: HarvestError) -> bool:
    """Errors with an exit code of their own (auth, config, lock, storage) end the whole
    run; the others fail one partition or one snapshot, and the run goes on."""
    return exc.exit_code is not ExitCode.PARTIAL


def first_harvest_error(exc: BaseException) -> HarvestError | None:
    """The deliberate error inside `exc`, looking through exception groups.

    Task groups wrap a worker's AuthError in an ExceptionGroup; the user should see
    the AuthError's one line and exit code, not a group traceback.
    """
    if isinstance(exc, HarvestError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_harvest_error(inner)
            if found is not None:
                return found
    return None
