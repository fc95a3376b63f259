"""Application data made with faker: each day's export lands as one batch, replaced on re-run."""

from __future__ import annotations

import json
import uuid
from datetime import date

from ingest.generators import DEFAULT_SEED, persons
from ingest.landing import PERSONS
from ingest.loaders import LoadResult
from ingest.settings import Settings
from ingest.sinks import connect


def person_problem(person: persons.Person) -> str | None:
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
    day: date, target: str, settings: Settings, seed: int = DEFAULT_SEED, scale: float = 1.0
) -> LoadResult:
    records, _ = persons.generate(day, seed=seed, scale=scale)
    good, rejects = [], []
    for number, record in enumerate(records, start=1):
        problem = person_problem(record)
        if problem is None:
            good.append(persons.as_row(record))
        else:
            raw = json.dumps(record, ensure_ascii=False)
            rejects.append((problem, raw, f"faker:persons:{day.isoformat()}#{number}"))
    sink = connect(target, settings)
    try:
        loaded = sink.replace_batch(PERSONS, day, good)
        rejected = sink.replace_batch(PERSONS.rejects, day, rejects)
    finally:
        sink.close()
    return LoadResult(f"{PERSONS.schema}.{PERSONS.name}", loaded, rejected)
