"""`make demo`: the warehouse end to end on the local stack, on Postgres and on ClickHouse."""

from __future__ import annotations

from datetime import date

from ingest import pipeline, stack
from ingest.engines import fetch
from ingest.generators import DEFAULT_SEED
from ingest.settings import Settings

TARGETS = ("postgres", "clickhouse")
START, END = date(2022, 10, 1), date(2022, 10, 3)
# (table, key columns to order by): what the demo shows and compares across engines
SHOWN = {
    "raw_faker.persons": None,
    "staging.stg_faker__persons": None,
    "marts.person_count_by_city": "person_count desc, city",
}
TOP = 5


def _rows(target: str, settings: Settings, table: str, order: str) -> list[tuple]:
    return fetch(target, settings, f"select * from {table} order by {order}")  # noqa: S608 - our constants


def summary(target: str, settings: Settings) -> dict[str, list[tuple]]:
    """Print row counts and the top rows of each mart; return the marts' rows."""
    marts = {}
    print(f"\n== {target}")
    for table, order in SHOWN.items():
        count = fetch(target, settings, f"select count(*) from {table}")[0][0]  # noqa: S608
        print(f"{table:<34} {count:>8} rows")
        if order:
            marts[table] = [tuple(map(str, row)) for row in _rows(target, settings, table, order)]
            for row in marts[table][:TOP]:
                print("    " + " | ".join(row))
    return marts


def main(settings: Settings) -> bool:
    print(stack.report(stack.up(settings), "started", "already running"))
    results = {}
    for target in TARGETS:
        pipeline.run(START, END, target, settings, seed=DEFAULT_SEED, scale=1.0)
    for target in TARGETS:
        results[target] = summary(target, settings)
    same = results["postgres"] == results["clickhouse"]
    print(f"\nmarts identical on postgres and clickhouse: {'yes' if same else 'NO'}")
    print('\nThe stack keeps running. Settings: eval "$(.venv/bin/dwh env)"; stop it: make down')
    return same
