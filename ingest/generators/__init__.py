"""Generators make the outside world: deterministic for a seed and a day, with realistic dirt.

Each generator also returns a manifest of what it made and which dirt it injected, so tests can
compare what landed with what was sent, exactly.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

DEFAULT_SEED = 42
DEFAULT_DIRT_RATE = 0.03


@dataclass(frozen=True)
class World:
    """The options of the generated outside world (`dwh` --seed, --scale, --dirt-rate; the DAGs'
    DWH_SEED, DWH_SCALE, DWH_DIRT_RATE): the same values make the same data."""

    seed: int = DEFAULT_SEED
    scale: float = 1.0
    dirt_rate: float = DEFAULT_DIRT_RATE


DEFAULT_WORLD = World()


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random generator that depends only on the seed and the parts (stable across runs)."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Manifest:
    """What a generator produced for one day: row counts by kind and the dirt it injected."""

    day: date
    counts: Counter = field(default_factory=Counter)
    dirt: Counter = field(default_factory=Counter)
