"""Benchmark: a day's incremental dbt build against history size, and against a full refresh.

    .venv/bin/python bench/bench_dbt.py [--scale 1] [--months 12] [--short-months 1]
                                        [--targets postgres clickhouse] [--repeat 3]

Starts a private stack (Postgres, ClickHouse) on free ports in a temporary DWH_HOME and lands the
generated world from the shop's opening day (2022-10-01) on, day by day, with the loaders' own
code: the sales files through the S3 loader's streaming path (`load_stream`, no S3 server), the
Kafka topics' records through the Kafka loader's encoder and stream sinks (no broker: noida-db
is not made for millions of messages; partition 0, offsets counted on), the shop export and the
persons through their loaders. At `--scale 1` a day is ~3,200 order lines, ~6,000 payment
messages and ~1,300 shop rows; twelve months are ~1.2 M order lines and ~2.2 M messages.

Two warehouses side by side, each a private stack: one with `--short-months` of history, one
with `--months`. On each engine:
- full: `dbt build --full-refresh` with no run date (every model from all history, every data
  test on all of it), of each warehouse;
- incremental: `dbt build` for each warehouse's last day (DWH_RUN_DATE, as `dwh run` and the
  DAGs pass it): the daily job, data tests included (on the window's weeks,
  macros/test_window.sql); `--repeat` times, the two warehouses in turn, so that a slow spell of
  a shared machine falls on both; the median is shown.
Both as the production job runs them, without the unit tests (ingest/dbt.py, DAILY_FLAGS): those
check the code, run in `make test`, and would add the same few seconds to both sides.
Both are wall times of the `dbt` command (start-up and parse included: the project is parsed
once beforehand into a target path per warehouse and engine, so every command starts from a
partial parse). Then the ratios:
incremental(long)/incremental(short) (target <= 1.3: a day's run must not grow with history),
incremental/full at the long history (target <= 0.1), and ClickHouse/Postgres for the full build.
Prints the figures; asserts nothing (never a timed test).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from ingest.dbt import DAILY_FLAGS, run_dbt
from ingest.generators import DEFAULT_SEED, payments, sales, shop
from ingest.landing import KAFKA_TOPICS, S3_FILES
from ingest.loaders.faker import load_persons
from ingest.loaders.kafka_records import Batch, Encoder
from ingest.loaders.s3 import load_stream
from ingest.loaders.shop import load_day as load_shop_day
from ingest.settings import Settings
from ingest.sinks import connect
from ingest.sinks.stream import connect_stream
from ingest.stack.private import private_stack

TARGETS = ("postgres", "clickhouse")
START = shop.OPENING
BATCH_RECORDS = 50_000  # the Kafka loader's batch size


def month_end(months: int) -> date:
    """The last day of `months` months of history from START (30 days a month)."""
    return START + timedelta(days=30 * months - 1)


def day_records(day: date, seed: int, scale: float) -> dict[str, list[tuple[bytes, bytes, int]]]:
    """The day's Kafka messages per topic as (key, value, timestamp ms), as generated."""
    published = [(m.key, m.value, m.timestamp_ms) for m in payments.messages(day, seed, scale)]
    events, _ = shop.registration_events(day, seed, scale)
    registered = [(e.key.encode(), e.value.encode(), e.timestamp_ms) for e in events]
    return {payments.TOPIC: published, shop.TOPIC: registered}


class TopicWriter:
    """Appends records to a topic's landing table the way the Kafka loader writes a batch."""

    def __init__(self, target: str, settings: Settings) -> None:
        self.sink = connect_stream(target, settings)
        self.encoders = {topic: Encoder(topic) for topic in KAFKA_TOPICS}
        self.positions: dict[str, int] = {}
        for topic, table in KAFKA_TOPICS.items():
            self.sink.ensure(table)
            self.positions[topic] = self.sink.positions(table, topic).get(0, 0)

    def write(self, topic: str, messages: Iterable[tuple[bytes, bytes, int]]) -> None:
        start = self.positions[topic]
        records = [
            Message(
                topic=topic,
                partition=0,
                offset=start + index,
                key=key,
                value=value,
                timestamp=(TIMESTAMP_CREATE_TIME, stamp),
            )
            for index, (key, value, stamp) in enumerate(messages)
        ]
        for first in range(0, len(records), BATCH_RECORDS):
            batch = Batch(topic)
            self.encoders[topic].encode(records[first : first + BATCH_RECORDS], batch)
            expected = {0: self.positions[topic]} if self.positions[topic] else {}
            self.sink.write(KAFKA_TOPICS[topic], batch, expected)
            self.positions[topic] = batch.next_offsets[0]

    def close(self) -> None:
        self.sink.close()


def land_days(
    days: list[date], targets: Iterable[str], settings: Settings, seed: int, scale: float
) -> None:
    """Land `days` of the generated world into every target (a day at a time, as in production)."""
    started = time.perf_counter()
    for target in targets:
        sink = connect(target, settings)
        writer = TopicWriter(target, settings)
        try:
            for number, day in enumerate(days, 1):
                for name in S3_FILES:
                    chunks = sales.render_file(name, day, seed, scale)
                    load_stream(name, f"bench://{day}/{name}", chunks, day, sink)
                load_shop_day(day, target, settings, seed, scale)
                load_persons(day, target, settings, seed, scale)
                for topic, messages in day_records(day, seed, scale).items():
                    writer.write(topic, messages)
                if number % 30 == 0 or number == len(days):
                    elapsed = time.perf_counter() - started
                    print(f"  {target}: landed up to {day} ({elapsed:.0f} s)", flush=True)
        finally:
            writer.close()
            sink.close()


@dataclass
class Warehouse:
    """A private stack holding the history up to `last_day`."""

    label: str
    settings: Settings
    last_day: date

    def target_path(self, target: str) -> Path:
        """dbt's target path for the engine: its own partial parse (one per profile target)."""
        return self.settings.home / f"dbt-{target}"


def timed_dbt(args: list[str], warehouse: Warehouse, target: str, run_date: date | None) -> float:
    started = time.perf_counter()
    day = run_date.isoformat() if run_date else None
    command = [*args, "--quiet", "--target-path", str(warehouse.target_path(target))]
    run_dbt(command, warehouse.settings, target, run_date=day)
    return time.perf_counter() - started


def slowest_nodes(warehouse: Warehouse, target: str, count: int = 5) -> str:
    """The nodes of the last dbt command on `target` that took longest, from run_results.json."""
    results = json.loads((warehouse.target_path(target) / "run_results.json").read_text())
    nodes = sorted(results["results"], key=lambda node: -node["execution_time"])[:count]
    return ", ".join(f"{n['unique_id'].split('.')[2]} {n['execution_time']:.1f}" for n in nodes)


@dataclass
class Figures:
    full: float
    incremental: float


def measure(warehouses: list[Warehouse], target: str, repeat: int) -> dict[str, Figures]:
    """Each warehouse's full refresh, then its day's run `repeat` times, the warehouses in turn."""
    full = {}
    for warehouse in warehouses:
        full[warehouse.label] = timed_dbt(
            ["build", "--full-refresh", *DAILY_FLAGS], warehouse, target, None
        )
        print(f"  {target}, {warehouse.label}: full refresh {full[warehouse.label]:.1f} s")
        print(f"    slowest: {slowest_nodes(warehouse, target)}", flush=True)
    day = ["build", *DAILY_FLAGS]
    runs: dict[str, list[float]] = {warehouse.label: [] for warehouse in warehouses}
    for _ in range(repeat):
        for warehouse in warehouses:
            runs[warehouse.label].append(timed_dbt(day, warehouse, target, warehouse.last_day))
    for warehouse in warehouses:
        shown = ", ".join(f"{seconds:.1f}" for seconds in runs[warehouse.label])
        print(f"  {target}, {warehouse.label}: incremental {warehouse.last_day}: {shown} s")
        print(f"    slowest (last run): {slowest_nodes(warehouse, target)}", flush=True)
    return {
        label: Figures(full[label], statistics.median(seconds)) for label, seconds in runs.items()
    }


def ratio(line: str, value: float, target: str) -> None:
    print(f"  {line:<58} {value:6.2f}   (target {target})")


def run(
    scale: float, months: int, short_months: int, targets: tuple[str, ...], repeat: int
) -> None:
    seed = DEFAULT_SEED
    short, long = f"{short_months} month(s)", f"{months} months"
    with (
        private_stack(list(targets), prefix="dwh-bench-short-") as short_settings,
        private_stack(list(targets), prefix="dwh-bench-long-") as long_settings,
    ):
        warehouses = [
            Warehouse(short, short_settings, month_end(short_months)),
            Warehouse(long, long_settings, month_end(months)),
        ]
        for warehouse in warehouses:
            days = [START + timedelta(days=n) for n in range((warehouse.last_day - START).days + 1)]
            print(
                f"\nlanding {len(days)} days at scale {scale} ({warehouse.label}) ...", flush=True
            )
            land_days(days, targets, warehouse.settings, seed, scale)
            for target in targets:  # parse once: every timed command starts from a partial parse
                timed_dbt(["parse"], warehouse, target, None)
        print("\ndbt build timings", flush=True)
        results = {target: measure(warehouses, target, repeat) for target in targets}
        report(results, short, long)


def report(results: dict[str, dict[str, Figures]], short: str, long: str) -> None:
    print("\nratios")
    for target, figures in results.items():
        print(target)
        ratio(
            f"incremental({long}) / incremental({short})",
            figures[long].incremental / figures[short].incremental,
            "<= 1.3",
        )
        ratio(
            f"incremental / full refresh at {long}",
            figures[long].incremental / figures[long].full,
            "<= 0.1",
        )
    if set(TARGETS) <= set(results):
        full = {target: results[target][long].full for target in TARGETS}
        ratio(
            f"full build at {long}: clickhouse / postgres",
            full["clickhouse"] / full["postgres"],
            "none",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--short-months", type=int, default=1)
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--repeat", type=int, default=3, help="incremental runs; median shown")
    args = parser.parse_args()
    if args.short_months >= args.months:
        parser.error("--short-months must be less than --months")
    run(args.scale, args.months, args.short_months, tuple(args.targets), args.repeat)


if __name__ == "__main__":
    main()
