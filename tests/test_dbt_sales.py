"""The Sales slice on the real servers: S3 files -> landing -> staging -> dwh -> mart.

Postgres and ClickHouse are built from the same files and must agree row by row; the incremental
`insert_overwrite` runs (one day, the same day again, a backfill) must replace exactly the
partitions of their window and leave the content as a full build made it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg import sql

from ingest import pipeline
from ingest.dbt import run_dbt
from ingest.engines import fetch
from ingest.generators import sales
from ingest.landing import USER_ORDER_LOG
from ingest.settings import Settings
from ingest.sinks import connect

SEED = 7
SCALE = 0.05
# Saturday to Thursday: two ISO weeks, the first one partial
DAYS = list(pipeline.days(date(2022, 10, 1), date(2022, 10, 6)))
RUN_DAY = DAYS[-1]
LOOKBACK_DAYS = 2  # the project's default (dbt_project.yml)
TARGETS = ["postgres", "clickhouse"]
# only this slice's models, and the tests whose parents are all among them (`cautious`): other
# areas' tests refer to d_calendar too, and the session's stack is shared with other tests
SELECTION = [
    "--indirect-selection",
    "cautious",
    "--select",
    "path:models/staging/s3",
    "path:models/intermediate",
    "path:models/dwh/calendar",
    "path:models/dwh/sales",
    "path:models/marts/sales",
]

F_SALES_COLUMNS = (
    "sale_date",
    "uniq_id",
    "item_id",
    "customer_id",
    "city_id",
    "quantity",
    "payment_amount",
    "status",
)
RETENTION_COLUMNS = (
    "period_name",
    "period_id",
    "item_id",
    "new_customers_count",
    "returning_customers_count",
    "refunded_customer_count",
    "new_customers_revenue",
    "returning_customers_revenue",
    "customers_refunded",
)
# Rows planted by the idempotency test to see which partitions a run replaces. The f_sales ones
# have no item, so they never reach the mart; the mart ones have item -1.
PLANTED_PREFIX = "planted-"
PLANTED_ITEM = -1
OUTSIDE_EVERY_WINDOW = date(2022, 9, 19)  # a Monday: also the first day of its week

# Other tests may land other days in raw_s3: look only at this test's days (and the planted one).
SPAN = {"first": OUTSIDE_EVERY_WINDOW, "last": DAYS[-1]}
F_SALES = (
    "select sale_date, uniq_id, item_id, customer_id, city_id, quantity, payment_amount, status"
    " from dwh.f_sales where sale_date between %(first)s and %(last)s"
)
RETENTION = (
    "select period_name, period_id, item_id, new_customers_count, returning_customers_count,"
    " refunded_customer_count, new_customers_revenue, returning_customers_revenue,"
    " customers_refunded from marts.f_customer_retention"
    " where period_id between %(first)s and %(last)s"
)


def normalized(rows: list[tuple]) -> list[tuple]:
    """Rows comparable across engines: numbers with 2 decimals, everything else as text."""

    def value(v: object) -> str | None:
        if v is None:
            return None
        if isinstance(v, (Decimal, float)):
            return f"{v:.2f}"
        return str(v)

    return sorted(tuple(value(v) for v in row) for row in rows)


def checksum(rows: list[tuple]) -> str:
    return hashlib.sha256(repr(normalized(rows)).encode()).hexdigest()


@pytest.fixture(scope="module")
def built(dwh: Settings, tmp_path_factory) -> Settings:
    """The days' files landed and built on both engines, side by side (own dbt target paths)."""
    for day in DAYS:
        sales.publish_day(day, dwh, seed=SEED, scale=SCALE)
    folder = tmp_path_factory.mktemp("build")

    def build(target: str) -> None:
        for day in DAYS:
            pipeline.ingest_s3(day, target, dwh)
        target_path = ["--target-path", str(folder / target)]
        run_dbt(["build", "--quiet", "--full-refresh", *SELECTION, *target_path], dwh, target)

    with ThreadPoolExecutor(len(TARGETS)) as pool:
        list(pool.map(build, TARGETS))
    return dwh


def test_engines_agree(built):
    dimensions = ("select * from dwh.d_customer", "select * from dwh.d_item")
    for query, params in [(F_SALES, SPAN), (RETENTION, SPAN), *((q, None) for q in dimensions)]:
        postgres = normalized(fetch("postgres", built, query, params))
        assert postgres, f"empty: {query}"
        assert postgres == normalized(fetch("clickhouse", built, query, params)), query


def test_f_sales_has_every_landed_order_line_once(built):
    """Duplicates in the files collapse to one line; refunds are present and negative."""
    landed = fetch(
        "postgres",
        built,
        "select count(distinct trim(uniq_id)) from raw_s3.user_order_log"
        " where _batch_date between %(start)s and %(end)s",
        {"start": DAYS[0], "end": DAYS[-1]},
    )
    rows = fetch("postgres", built, F_SALES, SPAN)
    assert [(len(rows),)] == landed
    refunds = [row for row in rows if row[7] == "refunded"]
    assert refunds, "the data has no refunds: pick another seed"
    assert all(row[5] < 0 and row[6] < 0 for row in refunds)


@dataclass
class WeekItem:
    """One (week, item) of the mart, counted in Python."""

    new: set = field(default_factory=set)
    returning: set = field(default_factory=set)
    refunded: set = field(default_factory=set)
    refunds: int = 0
    new_revenue: Decimal = Decimal(0)
    returning_revenue: Decimal = Decimal(0)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def recount_retention(f_sales: list[tuple]) -> list[tuple]:
    """The mart's contract (DATA_CONTRACTS.md §2) computed in Python from f_sales rows."""
    orders: dict[tuple, int] = defaultdict(int)  # (week, customer) -> shipped lines
    for sale_date, _, _, customer, _, _, _, status in f_sales:
        if status == "shipped":
            orders[monday(sale_date), customer] += 1
    cells: dict[tuple, WeekItem] = defaultdict(WeekItem)
    for sale_date, _, item, customer, _, _, amount, status in f_sales:
        week = monday(sale_date)
        cell = cells[week, item]
        if status == "refunded":
            cell.refunded.add(customer)
            cell.refunds += 1
        elif orders[week, customer] == 1:
            cell.new.add(customer)
            cell.new_revenue += amount
        else:
            cell.returning.add(customer)
            cell.returning_revenue += amount
    return [
        ("weekly", week, item, len(c.new), len(c.returning), len(c.refunded),
         c.new_revenue, c.returning_revenue, c.refunds)
        for (week, item), c in cells.items()
    ]  # fmt: skip


def test_retention_matches_an_independent_recount(built):
    expected = recount_retention(fetch("postgres", built, F_SALES, SPAN))
    mart = fetch("postgres", built, RETENTION, SPAN)
    assert normalized(mart) == normalized(expected)
    assert any(row[4] > 0 for row in mart), "no returning customers: the data is too small"
    assert any(row[5] > 0 for row in mart), "no refunds: the data is too small"


def plant(target: str, settings: Settings, table: str, columns: tuple, rows: list[tuple]) -> None:
    """Insert rows into a built table, behind dbt's back."""
    schema, name = table.split(".")
    if target == "postgres":
        from ingest.stack.postgres import connect

        statement = sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier(schema, name),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        with connect(settings) as conn, conn.cursor() as cur:
            cur.executemany(statement, rows)
    else:
        from ingest.sinks.clickhouse import client

        ch = client(settings)
        try:
            ch.insert(name, rows, database=schema, column_names=list(columns))
        finally:
            ch.close()


def unplant(target: str, settings: Settings) -> None:
    """Remove the planted rows, leaving the tables as dbt built them."""
    if target == "postgres":
        from ingest.stack.postgres import connect

        with connect(settings) as conn:
            conn.execute("delete from dwh.f_sales where uniq_id like %s", (PLANTED_PREFIX + "%",))
            conn.execute(
                "delete from marts.f_customer_retention where item_id = %s", (PLANTED_ITEM,)
            )
    else:
        from ingest.sinks.clickhouse import client

        ch = client(settings)
        try:
            sync = {"mutations_sync": 2}
            ch.command(
                "alter table dwh.f_sales delete where startsWith(uniq_id, %(prefix)s)",
                parameters={"prefix": PLANTED_PREFIX},
                settings=sync,
            )
            ch.command(
                "alter table marts.f_customer_retention delete where item_id = %(item)s",
                parameters={"item": PLANTED_ITEM},
                settings=sync,
            )
        finally:
            ch.close()


def planted_sales_row(day: date) -> tuple:
    return (day, f"{PLANTED_PREFIX}{day}", None, 0, 0, 1, Decimal("1.00"), "shipped")


def planted_retention_row(period: date) -> tuple:
    return ("weekly", period, PLANTED_ITEM, 0, 0, 0, Decimal("0.00"), Decimal("0.00"), 0)


@pytest.fixture(scope="module")
def dbt_run_day(built, tmp_path_factory) -> Callable[[str, date], None]:
    """`dbt run` of f_sales + f_customer_retention for a run_date, in this process.

    dbt parses the project once per target and reuses the manifest (the models' configs do not
    depend on vars), so a run costs about a second instead of a full CLI start.
    """
    from dbt.cli.main import dbtRunner

    folder = tmp_path_factory.mktemp("dbt")
    manifests = {}

    def common(target: str) -> list[str]:
        project = str(built.dbt_project_dir)
        return [
            *("--project-dir", project, "--profiles-dir", project, "--target", target),
            *("--target-path", str(folder / target), "--log-path", str(folder / "logs")),
            "--quiet",
        ]

    def run(target: str, day: date) -> None:
        if target not in manifests:
            parsed = dbtRunner().invoke(["parse", *common(target)])
            assert parsed.success, parsed.exception
            manifests[target] = parsed.result
        result = dbtRunner(manifest=manifests[target]).invoke(
            [
                *("run", "--select", "f_sales", "f_customer_retention"),
                *("--vars", json.dumps({"run_date": day.isoformat()})),
                *common(target),
            ]
        )
        assert result.success, result.exception or result.result

    return run


def content(target: str, settings: Settings) -> tuple[str, str, set[str], set[str]]:
    """Checksums of the real rows of f_sales and the mart, and what is left of the planted ones."""
    f_sales = fetch(target, settings, F_SALES, SPAN)
    mart = fetch(target, settings, RETENTION, SPAN)
    return (
        checksum([row for row in f_sales if not row[1].startswith(PLANTED_PREFIX)]),
        checksum([row for row in mart if row[2] != PLANTED_ITEM]),
        {str(row[0]) for row in f_sales if row[1].startswith(PLANTED_PREFIX)},
        {str(row[1]) for row in mart if row[2] == PLANTED_ITEM},
    )


@pytest.mark.parametrize("target", TARGETS)
def test_reruns_and_backfill_replace_exactly_their_window(built, dbt_run_day, target):
    full_sales, full_mart, _, _ = content(target, built)
    day = RUN_DAY
    # RUN_DAY's window is [D-2, D]; D-3 is only in the backfill's windows; the old day in none
    planted_days = [day, day - timedelta(days=LOOKBACK_DAYS), day - timedelta(days=3)]
    plant(
        target,
        built,
        "dwh.f_sales",
        F_SALES_COLUMNS,
        [planted_sales_row(d) for d in [*planted_days, OUTSIDE_EVERY_WINDOW]],
    )
    old_week = monday(OUTSIDE_EVERY_WINDOW)
    plant(
        target,
        built,
        "marts.f_customer_retention",
        RETENTION_COLUMNS,
        [planted_retention_row(monday(day)), planted_retention_row(old_week)],
    )
    survivors_after_day = {str(day - timedelta(days=3)), str(OUTSIDE_EVERY_WINDOW)}
    expected = {
        "day": (full_sales, full_mart, survivors_after_day, {str(old_week)}),
        "same day again": (full_sales, full_mart, survivors_after_day, {str(old_week)}),
        "backfill": (full_sales, full_mart, {str(OUTSIDE_EVERY_WINDOW)}, {str(old_week)}),
        "day after the backfill": (
            full_sales, full_mart, {str(OUTSIDE_EVERY_WINDOW)}, {str(old_week)}
        ),
    }  # fmt: skip
    steps = {
        "day": [day],
        "same day again": [day],
        "backfill": [day - timedelta(days=back) for back in (3, 2, 1, 0)],
        "day after the backfill": [day],
    }
    try:
        for step, run_dates in steps.items():
            for run_date in run_dates:
                dbt_run_day(target, run_date)
            assert content(target, built) == expected[step], step
    finally:
        unplant(target, built)
    assert content(target, built) == (full_sales, full_mart, set(), set())


LANDED_COLUMNS = [*USER_ORDER_LOG.columns, "_source_file", "_line_number"]


def landed_line(target: str, settings: Settings, condition: str, params: dict) -> dict:
    """The first line of raw_s3.user_order_log (by line number) that meets `condition`."""
    rows = fetch(
        target,
        settings,
        f"select {', '.join(LANDED_COLUMNS)} from raw_s3.user_order_log"  # noqa: S608 - constants
        f" where {condition} order by _line_number limit 1",
        params,
    )
    return dict(zip(LANDED_COLUMNS, rows[0], strict=True))


STAGED_LINES = (
    "select uniq_id, quantity, _batch_date, _line_number from staging.stg_s3__user_order_log"
    " where _batch_date between %(first)s and %(last)s"
)


@pytest.mark.parametrize("target", TARGETS)
def test_a_line_delivered_again_keeps_only_its_latest_copy(built, target, tmp_path):
    """Daily runs of the staging table rank their window's lines with the stored copies.

    A line of the first day comes again in a later day folder: the later day's run moves it
    there (its old folder is rebuilt without it); a backfill of the first day keeps it out.
    After each run the table holds what a full build of it holds.
    """
    later = RUN_DAY + timedelta(days=1)
    span = {"first": DAYS[0], "last": later}
    first = landed_line(
        target, built, "_batch_date = %(day)s and trim(uniq_id) != ''", {"day": DAYS[0]}
    )
    again = first | {"quantity": "9", "_source_file": "again"}
    uniq_id = again["uniq_id"].strip()
    stage = ["--quiet", "--select", "stg_s3__user_order_log", "--target-path", str(tmp_path)]

    def staged() -> list[tuple]:
        return normalized(fetch(target, built, STAGED_LINES, span))

    def run_day(day: date) -> list[tuple]:
        run_dbt(["run", *stage], built, target, run_date=day.isoformat())
        daily = staged()
        run_dbt(["run", "--full-refresh", *stage], built, target)
        assert staged() == daily, f"the run of {day} differs from a full build"
        return [row for row in daily if row[0] == uniq_id]

    sink = connect(target, built)
    try:
        sink.replace_batch(USER_ORDER_LOG, later, [tuple(again.values())])
        assert run_day(later) == [(uniq_id, "9", str(later), str(again["_line_number"]))]
        assert run_day(DAYS[0]) == [(uniq_id, "9", str(later), str(again["_line_number"]))]
    finally:
        sink.replace_batch(USER_ORDER_LOG, later, [])
        sink.close()
        run_dbt(["run", "--full-refresh", *stage], built, target)


DIMENSIONS = {
    "d_city": ("city_id", "city_name"),
    "d_item": ("item_id", "item_name"),
    "d_customer": ("customer_id", "first_name", "last_name", "city_id"),
}
DIMENSION_INPUTS = ["stg_s3__user_order_log", "int_order_lines__latest_per_month"]


def dimensions(target: str, settings: Settings) -> dict[str, list[tuple]]:
    """Every row of d_city, d_item and d_customer, normalized."""
    tables = {}
    for name, names in DIMENSIONS.items():
        query = f"select {', '.join(names)} from dwh.{name}"  # noqa: S608 - constant names
        tables[name] = normalized(fetch(target, settings, query))
    return tables


LATEST_PER_MONTH = (
    "select batch_month, uniq_id, customer_id, _batch_date"
    " from intermediate.int_order_lines__latest_per_month"
)


@pytest.mark.parametrize("target", TARGETS)
def test_a_later_line_renames_its_city_item_and_customer(built, target, tmp_path):
    """A day's run of the dimensions takes each key's values from its latest line.

    A new line of an existing customer, city and item, placed after every other line, lands in
    a later day folder with new names and another city: that day's run gives them the new
    values, and each dimension holds what a full build of it holds.
    """
    later = RUN_DAY + timedelta(days=1)
    line = landed_line(
        target,
        built,
        "_batch_date = %(day)s and trim(uniq_id) != '' and trim(city_id) != ''"
        " and trim(item_id) != '' and trim(customer_id) != ''",
        {"day": DAYS[0]},
    )
    other_city = fetch(
        target,
        built,
        "select min(city_id) from dwh.d_city where city_id != %(city)s",
        {"city": int(line["city_id"])},
    )[0][0]
    renamed = line | {
        "uniq_id": "renamed-line",
        "date_time": f"{later} 23:59:59",
        "city_id": str(other_city),
        "city_name": "Новоград",
        "item_name": "Новинка",
        "first_name": "Новый",
        "last_name": "Покупатель",
        "_source_file": "renamed",
    }
    selection = ["--quiet", "--select", *DIMENSION_INPUTS, *DIMENSIONS]
    selection += ["--target-path", str(tmp_path)]

    def row(table: dict[str, list[tuple]], name: str, key: object) -> tuple:
        return next(found for found in table[name] if found[0] == str(key))

    sink = connect(target, built)
    try:
        sink.replace_batch(USER_ORDER_LOG, later, [tuple(renamed.values())])
        run_dbt(["run", *selection], built, target, run_date=later.isoformat())
        daily = dimensions(target, built)
        run_dbt(["run", "--full-refresh", *selection], built, target)
        assert dimensions(target, built) == daily, f"the run of {later} differs from a full build"
        customer = ("Новый", "Покупатель", str(other_city))
        assert row(daily, "d_city", other_city) == (str(other_city), "Новоград")
        assert row(daily, "d_item", line["item_id"].strip()) == (line["item_id"].strip(), "Новинка")
        assert row(daily, "d_customer", line["customer_id"].strip())[1:] == customer
    finally:
        sink.replace_batch(USER_ORDER_LOG, later, [])
        sink.close()
        run_dbt(["run", "--full-refresh", *selection], built, target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("moved_day", [date(2022, 10, 7), date(2022, 11, 5)])
def test_a_line_moved_to_a_later_month_rebuilds_its_old_month(built, target, moved_day, tmp_path):
    """A daily run ranks again the whole month a later delivery took a month's latest line out of.

    A customer's latest October line, from a folder before the run's window, comes again in a
    later folder (October 7: the window's own month; November 5: a month after), dated before
    all the customer's lines. Staging moves it; the run must rank October of
    int_order_lines__latest_per_month again from all its lines, without the line's stored old
    copy: the table and the dimensions then hold what a full build holds.
    """
    before_window = moved_day - timedelta(days=LOOKBACK_DAYS + 1)
    latest = fetch(
        target,
        built,
        "select uniq_id, _batch_date from staging.stg_s3__user_order_log where customer_id = ("
        "  select min(customer_id) from ("
        "    select customer_id from staging.stg_s3__user_order_log group by customer_id"
        "    having max(_batch_date) <= %(before)s) as early_customers)"
        " and ordered_at is not null order by ordered_at desc, _batch_date desc, uniq_id desc"
        " limit 1",
        {"before": before_window},
    )[0]
    moved = landed_line(
        target,
        built,
        "trim(uniq_id) = %(uniq_id)s and _batch_date = %(day)s",
        {"uniq_id": latest[0], "day": latest[1]},
    ) | {"date_time": "2022-09-01 00:00:00", "_source_file": "moved"}
    selection = ["--quiet", "--select", *DIMENSION_INPUTS, *DIMENSIONS]
    selection += ["--target-path", str(tmp_path)]

    def tables() -> dict[str, list[tuple]]:
        candidates = normalized(fetch(target, built, LATEST_PER_MONTH))
        return dimensions(target, built) | {"int_order_lines__latest_per_month": candidates}

    sink = connect(target, built)
    try:
        sink.replace_batch(USER_ORDER_LOG, moved_day, [tuple(moved.values())])
        run_dbt(["run", *selection], built, target, run_date=moved_day.isoformat())
        daily = tables()
        kept = daily["int_order_lines__latest_per_month"]
        assert (latest[0], str(latest[1])) not in [(row[1], row[3]) for row in kept]
        run_dbt(["run", "--full-refresh", *selection], built, target)
        assert tables() == daily, f"the run of {moved_day} differs from a full build"
    finally:
        sink.replace_batch(USER_ORDER_LOG, moved_day, [])
        sink.close()
        run_dbt(["run", "--full-refresh", *selection], built, target)


def test_vertica_compiles_without_a_server(dwh, tmp_path: Path):
    """Compiling needs no connection once the relation cache is not pre-filled."""
    result = run_dbt(
        [
            *("compile", "--no-populate-cache", *SELECTION),
            *("--target-path", str(tmp_path)),
        ],
        dwh,
        "vertica",
        capture_output=True,
    )
    assert result.returncode == 0, result.stdout.decode()
    compiled = tmp_path / "compiled/warehouse/models/staging/s3/stg_s3__user_order_log.sql"
    assert "::!numeric(18, 2)" in compiled.read_text(), "not compiled with the Vertica macros"


@pytest.mark.parametrize(
    ("test", "run_date", "reads"),
    [
        # the window 2022-10-04..06 lies in the ISO week of Monday 2022-10-03
        (
            "unique_f_sales_uniq_id",
            RUN_DAY,
            "f_sales\" where sale_date between date '2022-10-03' and date '2022-10-09')",
        ),
        (
            "unique_f_sales_uniq_id",
            None,
            'from "warehouse"."dwh"."f_sales" where uniq_id is not null',
        ),
        (
            "assert_f_sales_refunds_are_negative",
            RUN_DAY,
            "where sale_date between date '2022-10-03' and date '2022-10-09' and (",
        ),
        ("assert_f_sales_refunds_are_negative", None, "where 1 = 1 and ("),
    ],
)
def test_a_daily_run_tests_the_weeks_of_its_window(dwh, tmp_path: Path, test, run_date, reads):
    """A data test of an incremental model, or a singular test of dated facts, reads the
    window's weeks on a day, everything else."""
    run_dbt(
        [
            *("compile", "--quiet", "--no-populate-cache", "--select", test),
            *("--target-path", str(tmp_path)),
        ],
        dwh,
        "postgres",
        run_date=run_date and run_date.isoformat(),
    )
    [compiled] = (tmp_path / "compiled").rglob(f"{test}.sql")
    assert reads in " ".join(compiled.read_text().split())
