"""The shop loader on the real servers: what lands and what is refused matches the manifest.

The days are late in 2022 and emptied afterwards, so other tests' windows (from the opening day
on) never see them; the product categories, exported on the opening day only, are covered by
the pure tests in test_shop_generator.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from ingest.engines import fetch
from ingest.generators import shop
from ingest.landing import Table
from ingest.loaders import Batch, land
from ingest.loaders.shop import SHAPES, load_day
from ingest.sinks.clickhouse import quote as ch_quote

# two days whose dirt (at DIRT) includes every kind that makes a row unreadable
DAYS = [date(2022, 11, 25), date(2022, 11, 26)]
SCALE = 0.1
DIRT = 0.25
TARGETS = ["postgres", "clickhouse"]
STATUSES = ", ".join(f"'{status}'" for status in shop.STATUSES)


def quote(target: str, name: str) -> str:
    return ch_quote(name) if target == "clickhouse" else '"' + name.replace('"', '""') + '"'


def name(target: str, table: Table) -> str:
    return f"{quote(target, table.schema)}.{quote(target, table.name)}"


def count(target: str, settings, table: Table, day: date, where: str = "1 = 1") -> int:
    sql = f"select count(*) from {name(target, table)} where _batch_date = %(day)s and ({where})"  # noqa: S608 - our identifiers, quoted
    return fetch(target, settings, sql, {"day": day})[0][0]


def snapshot(target: str, settings) -> dict[str, list[tuple]]:
    """Every content column of every shop table and rejects table, for the test's days."""
    found = {}
    for base in SHAPES:
        for table in (base, base.rejects):
            columns = ", ".join(quote(target, c) for c in (*table.columns, "_batch_date"))
            sql = (
                f"select {columns} from {name(target, table)}"  # noqa: S608 - quoted identifiers
                " where _batch_date between %(first)s and %(last)s"
            )
            rows = fetch(target, settings, sql, {"first": DAYS[0], "last": DAYS[-1]})
            found[table.qualified] = sorted(tuple(map(str, row)) for row in rows)
    return found


@pytest.fixture(scope="module")
def landed(dwh):
    results = {
        target: {day: load_day(day, target, dwh, scale=SCALE, dirt_rate=DIRT) for day in DAYS}
        for target in TARGETS
    }
    yield dwh, results
    for target in TARGETS:
        for day in DAYS:
            land(target, dwh, day, [Batch(table, [], []) for table in SHAPES])


def manifest(day: date):
    return shop.export(day, scale=SCALE, dirt_rate=DIRT)[1]


def refused(day: date, table: Table) -> Counter:
    """The columns the generator made unreadable in `table` on `day`, with how often."""
    found: Counter = Counter()
    for key, n in manifest(day).dirt.items():
        entity, kind = key.split(".", 1)
        if entity == table.name and shop.rejected_at_load(kind):
            found[kind.split("_", 1)[1]] += n
    return found


def test_the_days_exercise_every_kind_of_unreadable_row():
    kinds = {
        k for day in DAYS for k in manifest(day).dirt if shop.rejected_at_load(k.split(".")[1])
    }
    expected = {
        f"{entity}.{kind}"
        for entity, dirt in shop.DIRT.items()
        if entity in {table.name for table in SHAPES}
        for kind in dirt
        if shop.rejected_at_load(kind)
    }
    assert kinds == expected


@pytest.mark.parametrize("target", TARGETS)
def test_counts_equal_the_manifest(landed, target):
    settings, results = landed
    for day in DAYS:
        counts = manifest(day).counts
        by_table = {result.table: result for result in results[target][day]}
        for table in SHAPES:
            rejected = sum(refused(day, table).values())
            expected = counts[f"{table.name}.rows"] - rejected
            assert (
                count(target, settings, table, day) == expected == by_table[table.qualified].loaded
            )
            assert count(target, settings, table.rejects, day) == rejected
            assert by_table[table.qualified].rejected == rejected


@pytest.mark.parametrize("target", TARGETS)
def test_unreadable_rows_are_rejected_with_the_reason(landed, target):
    settings, _ = landed
    for day in DAYS:
        for table in SHAPES:
            sql = (
                f"select reason, origin from {name(target, table.rejects)}"  # noqa: S608
                " where _batch_date = %(day)s"
            )
            rows = fetch(target, settings, sql, {"day": day})
            assert Counter(reason.split()[0] for reason, _ in rows) == refused(day, table)
            for reason, origin in rows:
                assert reason.endswith(
                    ("is missing", "is not a whole number", "is not a decimal number")
                )
                assert origin.startswith(f"faker:{table.name}:{day.isoformat()}#")


# dirt kind -> a predicate true exactly for the rows that kind left in the landing table
LANDED_AS_IS = {
    ("users", "whitespace"): "first_name <> trim(first_name) and email <> trim(email)",
    ("users", "null_phone"): "phone is null",
    ("products", "whitespace"): "name <> trim(name)",
    ("products", "null_description"): "description is null",
    ("orders", "whitespace"): "status <> trim(status)",
    ("orders", "unknown_status"): f"trim(status) not in ({STATUSES})",
}


@pytest.mark.parametrize("target", TARGETS)
def test_readable_dirt_lands_as_is_for_staging(landed, target):
    settings, _ = landed
    seen = set()
    for day in DAYS:
        dirt = manifest(day).dirt
        for table in SHAPES:
            columns = ", ".join(quote(target, c) for c in table.columns)
            distinct = (
                f"select count(*) from (select distinct {columns} from {name(target, table)}"  # noqa: S608
                " where _batch_date = %(day)s) as rows"
            )
            duplicates = (
                count(target, settings, table, day)
                - fetch(target, settings, distinct, {"day": day})[0][0]
            )
            assert duplicates == dirt[f"{table.name}.duplicate"]
        for (entity, kind), where in LANDED_AS_IS.items():
            table = shop.TABLES[entity]
            assert count(target, settings, table, day, where) == dirt[f"{entity}.{kind}"]
            seen |= {(entity, kind)} if dirt[f"{entity}.{kind}"] else set()
    assert {("users", "null_phone"), ("orders", "unknown_status"), ("orders", "whitespace")} <= seen


@pytest.mark.parametrize("target", TARGETS)
def test_loading_a_day_again_changes_nothing(landed, target):
    settings, results = landed
    before = snapshot(target, settings)
    assert sum(len(rows) for rows in before.values()) > 0
    again = load_day(DAYS[1], target, settings, scale=SCALE, dirt_rate=DIRT)
    assert again == results[target][DAYS[1]]
    assert snapshot(target, settings) == before
