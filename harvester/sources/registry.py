"""Which sources exist, which the config enables, and what `--streams` names.

The one place that lists the sources: adding one means a line here, its package,
its config section, the README and the example config.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sinks.tables import Table

from ..config import Settings
from ..errors import ConfigError
from ..http import Gate
from .base import Source, Stream

__all__ = ["build_sources", "resolve_streams", "stream_names", "tables_of"]


def build_sources(settings: Settings) -> list[Source]:
    """One source per enabled config section, in a fixed order, sharing one gate (so
    together they stay within `concurrency` and `requests_per_second`)."""
    h = settings.harvest
    gate = Gate(h.concurrency, h.requests_per_second)
    sources: list[Source] = []
    if settings.abstra is not None and settings.abstra.manager_streams:
        from .abstra.source import AbstraSource

        sources.append(AbstraSource(settings, gate=gate))
    if settings.custom:
        from .custom.source import CustomSource

        sources.append(CustomSource(settings, gate))
    if settings.automations is not None:
        from .automations.source import AutomationsSource

        sources.append(AutomationsSource(settings, gate))
    if settings.flows is not None:
        from .flows.source import FlowsSource

        sources.append(FlowsSource(settings, gate))
    return sources


def tables_of(sources: Iterable[Source]) -> list[Table]:
    return [t for s in sources for t in s.tables]


def stream_names(sources: Iterable[Source]) -> list[str]:
    """Every name `--streams` accepts: stream names, then table names not already listed."""
    names = [st.name for s in sources for st in s.streams]
    tables = [t for s in sources for st in s.streams for t in st.tables]
    return list(dict.fromkeys([*names, *tables]))


def resolve_streams(sources: Sequence[Source], names: Sequence[str] | None) -> dict[str, list[Stream]]:
    """Source name → its chosen streams. `names` are stream or table names of any
    enabled source; None means every stream of every enabled source."""
    chosen: dict[str, list[Stream]] = {s.name: [] for s in sources}
    if names is None:
        return {s.name: list(s.streams) for s in sources}
    known = stream_names(sources)
    for name in dict.fromkeys(names):
        hits = [(s, st) for s in sources for st in s.streams if name == st.name or name in st.tables]
        if not hits:
            raise ConfigError(f"unknown stream {name!r} (no enabled source has a stream or table of that name): choose from {', '.join(known)}")
        for source, stream in hits:
            if stream not in chosen[source.name]:
                chosen[source.name].append(stream)
    return chosen
