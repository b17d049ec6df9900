"""Deterministic randomness and fast wire formatting for the generators.

Every piece of synthetic data comes from its own `random.Random` seeded by a hash
of (seed, what, ...), so any day of any stream can be generated alone, in any
order, and always comes out the same: that is what makes the organization lazy.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime

__all__ = [
    "EPOCH",
    "day_prefix",
    "derive_rng",
    "hex_id",
    "ms_of_day_to_wire",
    "uuid_like",
    "wire_times",
    "wire_to_datetime",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def derive_rng(seed: int, *parts: object) -> random.Random:
    """An RNG for one named piece of data; independent of every other piece."""
    text = "\x1f".join([str(seed), *map(str, parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def hex_id(rng: random.Random) -> str:
    """A 24-hex-digit id, the shape of a Mongo ObjectId."""
    return f"{rng.getrandbits(96):024x}"


def uuid_like(rng: random.Random) -> str:
    """A random UUID-4-shaped string; sorts unrelated to creation order, like real ids."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def day_prefix(day: date) -> str:
    """`2025-05-01T`, the shared head of every timestamp of that day."""
    return f"{day.isoformat()}T"


_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))


def ms_of_day_to_wire(prefix: str, ms: int) -> str:
    """`prefix` + `HH:MM:SS.mmmZ` for a millisecond offset into the day (a hot path)."""
    minute, rest = divmod(ms, 60_000)
    return f"{prefix}{_MINUTES[minute]}{rest // 1000:02d}.{rest % 1000:03d}Z"


def wire_times(prefix: str, offsets: list[int]) -> list[str]:
    """`ms_of_day_to_wire` over a whole day's offsets, without a call per entry."""
    minutes = _MINUTES
    return [
        f"{prefix}{minutes[ms // 60_000]}{ms % 60_000 // 1000:02d}.{ms % 1000:03d}Z" for ms in offsets
    ]


def wire_to_datetime(text: str) -> datetime:
    """Parse a wire timestamp this package produced."""
    return datetime.fromisoformat(text).astimezone(UTC)

