"""Every relation dbt builds is identical after a day's run, the same day again and a backfill.

DESIGN.md: "Re-running any day, or a whole backfill, must leave every table identical." A week
is generated and landed with the project's own generators and loaders, on a private stack: a
day's build reads everything landed, so on the session's shared warehouse this test and the
others would depend on each other's data. Then, on each engine, `dbt build` runs the way
`dwh run` runs it: for day D (the tables do not exist yet, so it builds all history), D again,
D-3, D-2, D-1, D (a backfill), and D again.

After each of these runs every relation of the dbt schemas must hold the rows it held after the
first build of D: the same row count and the same order-independent checksum, both computed by
the engine. The relations are listed from the engine's catalog, so a new model is covered
without touching this file. Views are included: cheap at this scale, and a view reading the
clock or a table that drifted would show too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingest import pipeline
from ingest.dbt import DAILY_FLAGS, run_dbt
from ingest.engines import fetch
from ingest.generators import World
from ingest.settings import Settings
from ingest.stack.private import private_stack

WORLD = World(seed=7, scale=0.05)
# a week from the shop's opening; the backfill's windows (lookback 2) start at D-5, after the
# first day
DAYS = list(pipeline.days(date(2022, 10, 1), date(2022, 10, 7)))
D = DAYS[-1]
# the runs after the first build of D, each compared with it: every run, not only each step's
# last, as a backfill that ends with D would hide what D's own window repairs
RUNS = [
    ("D again", D),
    *((f"the backfill's D-{back}", D - timedelta(days=back)) for back in (3, 2, 1)),
    ("the backfill's D", D),
    ("D after the backfill", D),
]
TARGETS = ["postgres", "clickhouse"]
# floats are rounded: an aggregate's last bits may depend on the order it summed rows in
FLOAT_DIGITS = 6

# tables, views and materialized views; a partitioned table once, through its parent
RELATIONS = {
    "postgres": """
        select namespace.nspname, class.relname
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
        where namespace.nspname in ('staging', 'intermediate', 'dwh', 'marts')
            and class.relkind in ('r', 'p', 'v', 'm') and not class.relispartition""",
    "clickhouse": """
        select database, name
        from system.tables
        where database in ('staging', 'intermediate', 'dwh', 'marts') and not is_temporary""",
}
# a relation's columns in order, and whether each is a float
COLUMNS = {
    "postgres": """
        select attribute.attname,
            attribute.atttypid in ('real'::regtype, 'double precision'::regtype)
        from pg_catalog.pg_attribute as attribute
        inner join pg_catalog.pg_class as class on class.oid = attribute.attrelid
        inner join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
        where namespace.nspname = %(schema)s and class.relname = %(name)s
            and attribute.attnum > 0 and not attribute.attisdropped
        order by attribute.attnum""",
    "clickhouse": """
        select name, type like '%%Float%%'
        from system.columns
        where database = %(schema)s and table = %(name)s
        order by position""",
}


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checksum_query(target: str, relation: str, columns: list[tuple[str, bool]]) -> str:
    """The row count and the sum of the rows' hashes: equal for the same rows in any order.

    A sum rather than a xor, so that two copies of a row do not cancel out.
    """
    if target == "postgres":
        values = ", ".join(
            f"round({quoted(c)}::numeric, {FLOAT_DIGITS})" if is_float else quoted(c)
            for c, is_float in columns
        )
        # 60 bits of the md5 of the row's text as a bigint; sum(bigint) is a numeric: no overflow
        row_hash = f"('x' || left(md5(row({values})::text), 15))::bit(60)::bigint"
        return f"select count(*), coalesce(sum({row_hash}), 0)::text from {relation}"  # noqa: S608
    values = ", ".join(
        f"round({quoted(c)}, {FLOAT_DIGITS})" if is_float else quoted(c) for c, is_float in columns
    )
    # the tuple's text keeps NULL apart from a default value; sum(UInt64) wraps around, which
    # keeps it independent of the order
    row_hash = f"cityHash64(toString(tuple({values})))"
    return f"select count(), toString(sum({row_hash})) from {relation}"  # noqa: S608


def checksums(target: str, settings: Settings) -> dict[str, tuple[int, str]]:
    """`schema.name` -> (row count, checksum) of every relation of the dbt schemas."""
    found = {}
    for schema, name in fetch(target, settings, RELATIONS[target]):
        columns = fetch(target, settings, COLUMNS[target], {"schema": schema, "name": name})
        relation = f"{quoted(schema)}.{quoted(name)}"
        [(rows, checksum)] = fetch(target, settings, checksum_query(target, relation, columns))
        found[f"{schema}.{name}"] = (rows, checksum)
    return found


def differences(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What changed from `before` to `after`, one line per relation."""
    lines = [f"{name}: gone" for name in sorted(before.keys() - after.keys())]
    lines += [f"{name}: new" for name in sorted(after.keys() - before.keys())]
    for name in sorted(before.keys() & after.keys()):
        (rows, checksum), (rows_after, checksum_after) = before[name], after[name]
        if rows != rows_after:
            lines.append(f"{name}: {rows} rows, then {rows_after}")
        elif checksum != checksum_after:
            lines.append(f"{name}: {rows} rows, other content")
    return lines


@pytest.fixture(scope="module")
def world() -> Iterator[Settings]:
    """A private stack holding the week's S3 files and Kafka messages (each test lands them)."""
    with private_stack(["postgres", "clickhouse", "kafka", "s3"], prefix="dwh-idem-") as settings:
        for day in DAYS:
            pipeline.generate_day(day, settings, WORLD)
        yield settings


@pytest.mark.parametrize("target", TARGETS)
def test_a_day_again_and_a_backfill_leave_every_relation_identical(world, target, tmp_path: Path):
    for day in DAYS:
        pipeline.ingest_day(day, target, world, WORLD)
    # a target path of our own: others may run dbt in the project folder meanwhile
    build = ["build", "--quiet", *DAILY_FLAGS, "--target-path", str(tmp_path)]

    def build_day(day: date) -> None:
        run_dbt(build, world, target, run_date=day.isoformat())

    build_day(D)
    first = checksums(target, world)
    assert first, "no relations in the dbt schemas"
    empty = sorted(name for name, (rows, _) in first.items() if rows == 0)
    assert not empty, f"{target}: empty, so a change could not show: {', '.join(empty)}"
    failures = []
    for step, day in RUNS:
        build_day(day)
        changed = differences(first, checksums(target, world))
        if changed:
            failures.append(f"after {step} ({day}):\n    " + "\n    ".join(changed))
    assert not failures, (
        f"{target}: relations differ from the first build of {D}:\n  " + "\n  ".join(failures)
    )
