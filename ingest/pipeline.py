"""A day of the warehouse: ingest every source for the day, then `dbt build` for that day.

The DAGs run the same steps as separate tasks; `dwh run` runs them in a loop for a range of days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, timedelta

from ingest.dbt import DAILY_FLAGS, lookback_days, run_dbt
from ingest.generators import DEFAULT_WORLD, Manifest, World, payments, sales, shop
from ingest.loaders import LoadResult
from ingest.loaders.faker import load_persons
from ingest.loaders.kafka import load_day as load_kafka_day
from ingest.loaders.s3 import load_day as load_s3_day
from ingest.loaders.shop import load_through as load_shop_through
from ingest.settings import Settings


def days(start: date, end: date) -> Iterator[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def generate_day(day: date, settings: Settings, world: World = DEFAULT_WORLD) -> list[Manifest]:
    """The outside world for the day: the S3 sales files and the Kafka topics (idempotent).

    Application (faker) data needs no step here: its loader makes the day's export itself.
    """
    options = asdict(world)
    return [
        sales.publish_day(day, settings, **options),
        payments.publish_day(day, settings, **options),
        shop.publish_events(day, settings, **options),
    ]


def generate(start: date, end: date, settings: Settings, world: World = DEFAULT_WORLD) -> None:
    for day in days(start, end):
        dirty = sum(sum(manifest.dirt.values()) for manifest in generate_day(day, settings, world))
        print(f"{day}: S3 files and Kafka messages generated ({dirty} dirty records)", flush=True)


def ingest_faker(
    day: date, target: str, settings: Settings, world: World = DEFAULT_WORLD
) -> list[LoadResult]:
    """The day's persons, and the shop's export of the day with every earlier one missed
    (application data: the loader makes the day's export itself, from the world's options)."""
    options = asdict(world)
    return [
        load_persons(day, target, settings, **options),
        *load_shop_through(day, target, settings, **options),
    ]


def ingest_s3(
    day: date, target: str, settings: Settings, world: World = DEFAULT_WORLD
) -> list[LoadResult]:
    """The day's sales files from S3, and those delivered late to the folders of the days the
    run rebuilds with it (`lookback_days`). The world's options belong to `dwh generate`."""
    return load_s3_day(day, target, settings, lookback=lookback_days(settings))


def ingest_kafka(
    day: date, target: str, settings: Settings, world: World = DEFAULT_WORLD
) -> list[LoadResult]:
    """Every topic drained up to now (a log has no days: rows carry their event date in
    `_batch_date`; see ingest/loaders/kafka.py). The world's options belong to `dwh generate`."""
    return load_kafka_day(day, target, settings)


def ingest_day(
    day: date, target: str, settings: Settings, world: World = DEFAULT_WORLD
) -> list[LoadResult]:
    return [
        *ingest_faker(day, target, settings, world),
        *ingest_s3(day, target, settings, world),
        *ingest_kafka(day, target, settings, world),
    ]


def run(
    start: date, end: date, target: str, settings: Settings, world: World = DEFAULT_WORLD
) -> None:
    for day in days(start, end):
        generate_day(day, settings, world)
        for result in ingest_day(day, target, settings, world):
            print(f"{day} {target}: {result}", flush=True)
        run_dbt(["build", "--quiet", *DAILY_FLAGS], settings, target, run_date=day.isoformat())
        print(f"{day} {target}: dbt build done", flush=True)
