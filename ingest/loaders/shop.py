"""The shop's application data (faker): each entity's daily export lands as one batch per day.

A row goes to `<table>_rejects` only when it cannot be read: a key, amount or quantity that is
missing or not a number, a timestamp that is not one. Everything readable lands as-is (stray
whitespace, duplicates, NULLs in other columns, unknown order statuses) for dbt staging to clean
and test; see ingest/generators/shop.py for which injected dirt ends where.

The exports are incremental (a day holds what was created or changed that day), so a warehouse
needs every one since the opening: `load_through` lands a day's export together with each
earlier one the warehouse lacks (docs/shop_source.md, "Catching up").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, shop
from ingest.landing import (
    SHOP_ORDER_DETAILS,
    SHOP_ORDERS,
    SHOP_PRODUCT_CATEGORIES,
    SHOP_PRODUCTS,
    SHOP_USERS,
    Table,
)
from ingest.loaders import Batch, LoadResult, land, sort_out
from ingest.settings import Settings
from ingest.sinks import connect

log = logging.getLogger(__name__)

WHOLE = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Shape:
    """What a row needs for staging to read it; columns not named here may hold any text."""

    whole: tuple[str, ...] = ()  # required whole numbers: ids, quantities
    optional_whole: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()  # required decimal numbers
    stamps: tuple[str, ...] = ()  # required timestamps
    optional_stamps: tuple[str, ...] = ()


SHAPES: dict[Table, Shape] = {
    SHOP_USERS: Shape(whole=("user_id",), stamps=("registration_date",)),
    SHOP_PRODUCT_CATEGORIES: Shape(whole=("category_id",), optional_whole=("parent_category_id",)),
    SHOP_PRODUCTS: Shape(
        whole=("product_id", "category_id", "stock_quantity"),
        amounts=("price",),
        stamps=("creation_date",),
    ),
    SHOP_ORDERS: Shape(
        whole=("order_id", "user_id"),
        amounts=("total_amount",),
        stamps=("order_date",),
        optional_stamps=("delivery_date",),
    ),
    SHOP_ORDER_DETAILS: Shape(
        whole=("order_detail_id", "order_id", "product_id", "quantity"),
        amounts=("price_per_unit", "total_price"),
    ),
}


def _is_stamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def row_problem(shape: Shape, record: Mapping[str, str | None]) -> str | None:
    """Why `record` cannot be read (the first problem found), or None."""
    checks = (
        (shape.whole, True, WHOLE.fullmatch, "a whole number"),
        (shape.optional_whole, False, WHOLE.fullmatch, "a whole number"),
        (shape.amounts, True, DECIMAL.fullmatch, "a decimal number"),
        (shape.stamps, True, _is_stamp, "a timestamp"),
        (shape.optional_stamps, False, _is_stamp, "a timestamp"),
    )
    for columns, required, valid, kind in checks:
        for column in columns:
            value = record[column]
            text = "" if value is None else value.strip()
            if not text:
                if required:
                    return f"{column} is missing"
                continue
            if not valid(text):
                return f"{column} {value!r} is not {kind}"
    return None


def load_day(
    day: date,
    target: str,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> list[LoadResult]:
    """Land the day's export of every shop entity, replacing that day's batch in each table."""
    return land(target, settings, day, export_batches(day, seed, scale, dirt_rate))


def export_batches(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> list[Batch]:
    """The day's export of every shop entity, each split into landing rows and rejects."""
    tables, _ = shop.export(day, seed=seed, scale=scale, dirt_rate=dirt_rate)
    return [
        sort_out(
            table,
            tables[table.name],
            partial(row_problem, shape),
            f"faker:{table.name}:{day.isoformat()}",
        )
        for table, shape in SHAPES.items()
    ]


# `land` writes the tables in SHAPES order, each day of a table atomically: a day found in the
# last one was landed whole (but for that table's rejects, had the load died just before them).
LAST_LANDED = list(SHAPES)[-1]


def landed_days(target: str, settings: Settings, table: Table = LAST_LANDED) -> set[date]:
    """The days `table` holds a batch of in `target`."""
    sink = connect(target, settings)
    try:
        return sink.batch_dates(table)
    finally:
        sink.close()


def load_through(
    day: date,
    target: str,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> list[LoadResult]:
    """Land the day's export, after every earlier one since the opening that `target` lacks.

    The exports are incremental: a warehouse that starts later, or missed a day, would hold
    orders of users and products it never saw (the categories come on the opening day only).
    Each missed day lands as its own batch, exactly as it would have on its day, so running
    that day later replaces it with the same rows. A day found whole is not loaded again; one
    with no order lines at all (possible only at tiny scales) is, harmlessly. The results add
    up each table's rows over the days landed.
    """
    earlier = [shop.OPENING + timedelta(days=n) for n in range((day - shop.OPENING).days)]
    landed = landed_days(target, settings) if earlier else set()
    missed = [each for each in earlier if each not in landed]
    totals: dict[str, LoadResult] = {}
    for each in [*missed, day]:
        for result in load_day(each, target, settings, seed, scale, dirt_rate):
            before = totals.get(result.table, LoadResult(result.table, 0, 0))
            totals[result.table] = LoadResult(
                result.table, before.loaded + result.loaded, before.rejected + result.rejected
            )
    if missed:
        log.info("%s: caught up the shop's exports of %d earlier day(s)", day, len(missed))
    return list(totals.values())
