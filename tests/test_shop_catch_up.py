"""The shop's exports caught up: a warehouse that starts after the opening, or missed a day.

A private Postgres and ClickHouse of its own: the catch-up acts on a warehouse with no shop days,
and the session's stack holds other tests' days from the opening on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ingest.engines import fetch
from ingest.generators import shop
from ingest.landing import SHOP_PRODUCT_CATEGORIES, Table
from ingest.loaders import Batch, LoadResult, land
from ingest.loaders.shop import SHAPES, export_batches, landed_days, load_through
from ingest.settings import Settings
from ingest.stack.private import private_stack

DAYS = [shop.OPENING, date(2022, 10, 2), date(2022, 10, 3)]
SCALE = 0.05
TARGETS = ["postgres", "clickhouse"]


@pytest.fixture(scope="module")
def warehouse() -> Iterator[Settings]:
    with private_stack(["postgres", "clickhouse"], prefix="dwh-catch-up-") as settings:
        yield settings


def expected(*days: date) -> list[LoadResult]:
    """What landing `days` reports: each table's readable rows and rejects, added up."""
    batches: dict[Table, list[Batch]] = {table: [] for table in SHAPES}
    for day in days:
        for batch in export_batches(day, scale=SCALE):
            batches[batch.table].append(batch)
    return [
        LoadResult(
            table.qualified, sum(len(b.rows) for b in found), sum(len(b.rejects) for b in found)
        )
        for table, found in batches.items()
    ]


def rows_of(target: str, settings: Settings, table: Table, day: date) -> int:
    query = f"select count(*) from {table.qualified} where _batch_date = %(day)s"  # noqa: S608
    return fetch(target, settings, query, {"day": day})[0][0]


@pytest.mark.parametrize("target", TARGETS)
def test_a_later_first_day_lands_every_export_since_the_opening(warehouse, target):
    assert landed_days(target, warehouse) == set()  # nothing landed yet
    assert load_through(DAYS[-1], target, warehouse, scale=SCALE) == expected(*DAYS)
    assert landed_days(target, warehouse) == set(DAYS)
    for day in DAYS:  # each day its own batch, as it lands on its own day
        for batch in export_batches(day, scale=SCALE):
            assert rows_of(target, warehouse, batch.table, day) == len(batch.rows)
    assert rows_of(target, warehouse, SHOP_PRODUCT_CATEGORIES, shop.OPENING) > 0


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_missed_days_are_landed_again(warehouse, target):
    load_through(DAYS[-1], target, warehouse, scale=SCALE)
    assert load_through(DAYS[-1], target, warehouse, scale=SCALE) == expected(DAYS[-1])
    land(target, warehouse, DAYS[1], [Batch(table, [], []) for table in SHAPES])  # a gap
    assert landed_days(target, warehouse) == {DAYS[0], DAYS[2]}
    assert load_through(DAYS[-1], target, warehouse, scale=SCALE) == expected(DAYS[1], DAYS[2])
    assert landed_days(target, warehouse) == set(DAYS)


@pytest.mark.parametrize("target", TARGETS)
def test_the_opening_day_lands_alone(warehouse, target):
    assert load_through(shop.OPENING, target, warehouse, scale=SCALE) == expected(shop.OPENING)
