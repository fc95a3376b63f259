"""Application data made with faker: each day's export lands as one batch, replaced on re-run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date

from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, persons
from ingest.landing import PERSONS
from ingest.loaders import LoadResult, land, sort_out
from ingest.settings import Settings


def person_problem(person: Mapping[str, str | None]) -> str | None:
    """Why a person record cannot be read, or None. Only what staging could not repair."""
    try:
        uuid.UUID(str(person["id"]).strip())
    except ValueError:
        return f"id {person['id']!r} is not a UUID"
    age = str(person["age"]).strip()
    if not age.isdigit():
        return f"age {person['age']!r} is not a whole number"
    return None


def load_persons(
    day: date,
    target: str,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> LoadResult:
    records, _ = persons.generate(day, seed=seed, scale=scale, dirt_rate=dirt_rate)
    batch = sort_out(PERSONS, records, person_problem, f"faker:persons:{day.isoformat()}")
    return land(target, settings, day, [batch])[0]
