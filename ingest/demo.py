"""`make demo`: the whole warehouse on the local stack, on Postgres and on ClickHouse.

Two weeks of the outside world are generated and landed; dbt builds all history, then the last
day again as an incremental run (what a daily schedule does). Every mart is shown and compared
across the engines, numbers rounded to 2 decimals.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ingest import pipeline, stack
from ingest.dbt import DAILY_FLAGS, run_dbt
from ingest.engines import fetch
from ingest.settings import Settings

TARGETS = ("postgres", "clickhouse")
START, END = date(2022, 10, 1), date(2022, 10, 14)
LANDING = ("raw_faker.persons", "raw_s3.user_order_log", "raw_kafka.transaction_service_input")
# mart -> the key it is ordered by (also the order of the rows compared across engines)
MARTS = {
    "marts.person_count_by_city": "person_count desc, city",
    "marts.f_customer_retention": "period_id, item_id",
    "marts.global_metrics": "date_update, currency_from",
    "marts.mart_user_activity": "user_id, status",
    "marts.mart_product_sales": "product_id, status",
    "marts.mart_average_check": "status, loyalty_status",
}
TOP = 3


def _text(value: object) -> str:
    if isinstance(value, float | Decimal):
        return f"{value:.2f}"
    return "NULL" if value is None else str(value)


def mart_rows(target: str, settings: Settings, mart: str) -> list[tuple[str, ...]]:
    rows = fetch(target, settings, f"select * from {mart} order by {MARTS[mart]}")  # noqa: S608 - constants
    return [tuple(map(_text, row)) for row in rows]


def build(target: str, settings: Settings) -> None:
    """Land every day, build all history, then rebuild the last day incrementally."""
    for day in pipeline.days(START, END):
        results = pipeline.ingest_day(day, target, settings)
        loaded = sum(result.loaded for result in results)
        rejected = sum(result.rejected for result in results)
        print(f"{target} {day}: {loaded} rows landed, {rejected} rejected", flush=True)
    run_dbt(["build", "--quiet"], settings, target)
    run_dbt(["build", "--quiet", *DAILY_FLAGS], settings, target, run_date=END.isoformat())
    print(f"{target}: dbt build of all history, then of {END} incrementally: passed", flush=True)


def show(target: str, settings: Settings) -> dict[str, list[tuple[str, ...]]]:
    print(f"\n== {target}")
    for table in LANDING:
        count = fetch(target, settings, f"select count(*) from {table}")[0][0]  # noqa: S608
        print(f"{table:<38} {count:>8} rows")
    marts = {mart: mart_rows(target, settings, mart) for mart in MARTS}
    for mart, rows in marts.items():
        print(f"{mart:<38} {len(rows):>8} rows")
        for row in rows[:TOP]:
            print("    " + " | ".join(row))
    return marts


def main(settings: Settings) -> bool:
    print(stack.report(stack.up(settings), "started", "already running"))
    pipeline.generate(START, END, settings)
    for target in TARGETS:
        build(target, settings)
    shown = {target: show(target, settings) for target in TARGETS}
    differ = [mart for mart in MARTS if shown["postgres"][mart] != shown["clickhouse"][mart]]
    print(f"\nmarts identical on postgres and clickhouse: {'yes' if not differ else 'NO'}")
    for mart in differ:
        print(f"    differs: {mart}")
    print('\nThe stack keeps running. Settings: eval "$(.venv/bin/dwh env)"; stop it: make down')
    return not differ
