"""A day of the warehouse: ingest every source for the day, then `dbt build` for that day.

The DAGs run the same steps as separate tasks; `dwh run` runs them in a loop for a range of days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from ingest.dbt import run_dbt
from ingest.loaders import LoadResult
from ingest.loaders.faker import load_persons
from ingest.settings import Settings


def days(start: date, end: date) -> Iterator[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def ingest_faker(
    day: date, target: str, settings: Settings, seed: int, scale: float
) -> list[LoadResult]:
    return [load_persons(day, target, settings, seed=seed, scale=scale)]


def ingest_day(
    day: date, target: str, settings: Settings, seed: int, scale: float
) -> list[LoadResult]:
    return ingest_faker(day, target, settings, seed, scale)


def run(start: date, end: date, target: str, settings: Settings, seed: int, scale: float) -> None:
    for day in days(start, end):
        for result in ingest_day(day, target, settings, seed, scale):
            print(f"{day} {target}: {result}", flush=True)
        run_dbt(["build", "--quiet"], settings, target, run_date=day.isoformat())
        print(f"{day} {target}: dbt build done", flush=True)
