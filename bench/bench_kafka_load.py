"""Benchmark: the Kafka loader against a bare kafka-python consume loop and pandas `to_sql`.

    .venv/bin/python bench/bench_kafka_load.py [--messages 1000000] [--naive-messages 100000]
        [--partitions 3]

Starts a private stack (Postgres, ClickHouse, Kafka) on free ports in a temporary DWH_HOME,
publishes about `--messages` payments messages (one generated day, default dirt) to a topic of
`--partitions` partitions (default 3, like the contract's topics), waits until the broker is idle
(it saves its whole state to disk after changes), then measures, in the same run, each in a fresh
process (imports done before the clock starts, so none inherits another's memory or pays
another's start-up):
- bare: a kafka-python loop that only consumes the topic to its end (kafka-python's defaults, no
  group, no commits);
- bare-confluent: the same loop with the loader's own consumer (`ingest.loaders.kafka.consumer`,
  confluent-kafka): what the loader's client reads when it does nothing else;
- loader: `ingest.loaders.kafka.drain_all` into Postgres, and into ClickHouse (every record
  checked, rows, rejects and offsets written, exactly once), as it runs by default (one
  process), and with the partitions split over two worker processes (`--workers 2`, started
  inside the clock);
- naive: the kafka-python consumer, each poll's records made a DataFrame and appended with
  `DataFrame.to_sql(if_exists="append")` through SQLAlchemy (psycopg2; clickhouse-connect's
  dialect), on the first `--naive-messages` messages;
- writing alone, on those messages read into memory first: the loader's encoder and sink
  (`write-*`) against `to_sql` (`to_sql-*`): the writing paths by themselves.
Each loader run is paired with a bare run just before it, so the ratio compares like with like on
a machine whose load changes. Rates are messages per second, CPU is the process's own and its
workers'; ratios are one rate over the other. Memory: each process's RSS (with its workers') at a
quarter, half, three quarters and the end of its run, and its peak: flat means it does not grow
as the run goes on.
Prints results; asserts nothing (never a timed test).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from naive import sqlalchemy_url  # bench/ is the script folder, first on sys.path

from ingest import topics
from ingest.generators import payments
from ingest.landing import KAFKA_META, Table
from ingest.settings import Settings

DAY = date(2030, 1, 1)
TARGETS = ("postgres", "clickhouse")


# --- the measured processes ------------------------------------------------------------------


def rss_mib() -> float:
    """The RSS of this process and of the processes it started (a parallel drain's workers)."""
    pids = ["self"]
    for children in Path("/proc/self/task").glob("*/children"):  # Linux
        pids += children.read_text().split()
    pages = 0
    for pid in pids:
        try:
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:  # gone meanwhile
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler(threading.Thread):
    """RSS every 100 ms while the measured work runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.samples.append((time.perf_counter() - self.start_time, rss_mib()))

    def profile(self) -> list[float]:
        """RSS at 1/4, 1/2, 3/4 of the run and at its end, and the peak."""
        if not self.samples:
            return [rss_mib()] * 5
        end = self.samples[-1][0]
        quarters = [
            next(rss for t, rss in self.samples if t >= end * q) for q in (0.25, 0.5, 0.75, 1)
        ]
        return [*quarters, max(rss for _, rss in self.samples)]


def kafka_python(settings: Settings) -> KafkaConsumer:
    """The baselines' consumer: kafka-python's defaults, no group, no commits."""
    from ingest.loaders.kafka import CONSUMER_CONFIG

    return KafkaConsumer(
        bootstrap_servers=topics.bootstrap(settings),
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        auto_offset_reset="earliest",
        # The local broker answers a fetch with the whole rest of a partition (see the loader's
        # CONSUMER_CONFIG): above the default 100 MB frame limit, the consumer would retry forever.
        receive_message_max_bytes=CONSUMER_CONFIG["receive.message.max.bytes"],
    )


def polled(settings: Settings, topic: str, limit: int | None) -> list[list]:
    """The first `limit` records as kafka-python polls return them (read before timing)."""
    reader = kafka_python(settings)
    try:
        found, count = [], 0
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        reader.assign(partitions)
        reader.seek_to_beginning()
        while count < (limit or 0):
            for records in reader.poll(timeout_ms=200).values():
                found.append(records)
                count += len(records)
        return found
    finally:
        reader.close()


def as_messages(settings: Settings, topic: str, limit: int | None) -> list[list]:
    """`polled`'s records as the loader's consumer returns them (confluent-kafka Messages)."""
    from confluent_kafka import Message

    return [
        [
            Message(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                timestamp=(r.timestamp_type + 1, r.timestamp),  # their numbering starts at 1
            )
            for r in records
        ]
        for records in polled(settings, topic, limit)
    ]


def consumed(settings: Settings, topic: str, limit: int | None) -> Iterator[list]:
    """Each poll's records of one partition, up to the end offsets (or `limit` records)."""
    reader = kafka_python(settings)
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        reader.assign(partitions)
        reader.seek_to_beginning()
        ends = reader.end_offsets(partitions)
        count = 0
        while any(reader.position(tp) < ends[tp] for tp in partitions):
            for records in reader.poll(timeout_ms=200).values():
                yield records
                count += len(records)
            if limit and count >= limit:
                return
    finally:
        reader.close()


def bare(settings: Settings, topic: str, state: object) -> int:
    return sum(len(records) for records in consumed(settings, topic, None))


def bare_confluent(settings: Settings, topic: str, state: object) -> int:
    """The loader's consumer reading the topic to its end, touching each record's fields."""
    from confluent_kafka import KafkaError, TopicPartition

    from ingest.loaders.kafka import consumer

    reader = consumer(settings)
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, 0) for p in partitions])
        at_end, count = set(), 0
        while len(at_end) < len(partitions):
            for message in reader.consume(10_000, 0.2):
                error = message.error()
                if error is None:
                    message.value(), message.key(), message.offset(), message.timestamp()
                    count += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
        return count
    finally:
        reader.close()


def load(target: str, workers: int = 1) -> Callable[[Settings, str, object], int]:
    def run(settings: Settings, topic: str, state: object) -> int:
        from ingest.loaders.kafka import drain_all

        table = bench_table(target)
        result = drain_all({topic: table}, target, settings, workers=workers)[0]
        return result.loaded + result.rejected

    return run


def write(target: str) -> Callable[[Settings, str, object], int]:
    """The loader's own path from records in memory to the target (no Kafka, no thread)."""

    def run(settings: Settings, topic: str, state: object) -> int:
        from ingest.loaders.kafka import BATCH_SIZE
        from ingest.loaders.kafka_records import Batch, Encoder
        from ingest.sinks.stream import connect_stream

        table = bench_table(target)
        sink = connect_stream(target, settings)
        encoder, batch, stored, count = Encoder(topic), Batch(topic), {}, 0
        try:
            sink.ensure(table)
            for records in state:
                encoder.encode(records, batch)
                count += len(records)
                if len(batch) >= BATCH_SIZE:
                    sink.write(table, batch, stored)
                    stored.update(batch.next_offsets)
                    batch = Batch(topic)
            if len(batch):
                sink.write(table, batch, stored)
        finally:
            sink.close()
        return count

    return run


def bench_table(target: str) -> Table:
    return Table("bench", f"{target}_{uuid.uuid4().hex[:8]}", ("payload",), KAFKA_META)


def to_sql(target: str, settings: Settings, polls: Iterable[list], topic: str) -> int:
    """The naive way: each poll's records as a DataFrame, appended with `to_sql`."""
    import pandas as pd
    from sqlalchemy import create_engine

    table = f"naive_{uuid.uuid4().hex[:8]}"
    if target == "clickhouse":  # the dialect cannot create a table without an engine
        from ingest.sinks.clickhouse import client

        ch = client(settings)
        ch.command(
            f"create table bench.{table} (payload Nullable(String), _topic String,"
            " _partition Int64, _offset Int64, _key Nullable(String),"
            " _timestamp DateTime64(3, 'UTC'), _batch_date Date) engine = MergeTree"
            " order by tuple()"
        )
        ch.close()
    engine = create_engine(sqlalchemy_url(settings, target))
    count = 0
    try:
        for records in polls:
            stamps = pd.to_datetime([r.timestamp for r in records], unit="ms")
            frame = pd.DataFrame(
                {
                    "payload": [r.value.decode(errors="replace") for r in records],
                    "_topic": topic,
                    "_partition": [r.partition for r in records],
                    "_offset": [r.offset for r in records],
                    "_key": [r.key.decode() if r.key else None for r in records],
                    "_timestamp": stamps,
                    "_batch_date": stamps.date,
                }
            )
            frame.to_sql(table, engine, schema="bench", if_exists="append", index=False)
            count += len(records)
    finally:
        engine.dispose()
    return count


def naive(target: str) -> Callable[[Settings, str, object], int]:
    """Consume with kafka-python and append each poll with to_sql: a naive loader, end to end."""

    def run(settings: Settings, topic: str, limit: object) -> int:
        return to_sql(target, settings, consumed(settings, topic, limit), topic)

    return run


def naive_write(target: str) -> Callable[[Settings, str, object], int]:
    """to_sql alone, from records in memory: the naive way's writing cost."""

    def run(settings: Settings, topic: str, polls: object) -> int:
        return to_sql(target, settings, polls, topic)

    return run


def no_preparation(settings: Settings, topic: str, limit: int | None) -> object:
    return limit


# mode -> (untimed preparation, timed run of its result)
MODES: dict[str, tuple[Callable, Callable[[Settings, str, object], int]]] = {
    "bare": (no_preparation, bare),
    "bare-confluent": (no_preparation, bare_confluent),
    **{target: (no_preparation, load(target)) for target in TARGETS},
    **{f"{target}-two-workers": (no_preparation, load(target, 2)) for target in TARGETS},
    **{f"naive-{target}": (no_preparation, naive(target)) for target in TARGETS},
    **{f"write-{target}": (as_messages, write(target)) for target in TARGETS},
    **{f"to_sql-{target}": (polled, naive_write(target)) for target in TARGETS},
}


def cpu_with_children() -> float:
    """CPU seconds of this process and of its children that ended (a parallel drain's workers)."""
    mine, theirs = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime


def child(mode: str, topic: str, limit: int | None) -> None:
    """Run one measurement in this fresh process; print it as JSON."""
    from ingest.settings import load as load_settings

    settings = load_settings()
    import confluent_kafka  # noqa: F401 - every mode's imports happen before the clock starts
    import kafka  # noqa: F401
    import msgspec  # noqa: F401
    import psycopg  # noqa: F401

    import ingest.loaders.kafka  # noqa: F401

    if mode.startswith("naive"):
        import pandas  # noqa: F401
        import sqlalchemy  # noqa: F401
    if "clickhouse" in mode:
        import clickhouse_connect  # noqa: F401
    prepare, run = MODES[mode]
    state = prepare(settings, topic, limit)
    sampler = Sampler()
    sampler.start()
    start, cpu = time.perf_counter(), cpu_with_children()
    count = run(settings, topic, state)
    seconds, cpu = time.perf_counter() - start, cpu_with_children() - cpu
    sampler.done.set()
    sampler.join()
    found = {"messages": count, "seconds": seconds, "cpu": cpu, "rss": sampler.profile()}
    print(json.dumps(found))


# --- the run -----------------------------------------------------------------------------------


def settle(settings: Settings, quiet_s: float = 3.0, limit_s: float = 300.0) -> None:
    """Wait until the local broker has used almost no CPU for `quiet_s` (its save is done)."""
    pid_file = settings.home / "kafka" / "kafka.pid"
    if not pid_file.exists():  # not our local broker
        return

    def cpu_s() -> float:
        fields = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text().split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        before = cpu_s()
        time.sleep(quiet_s)
        if cpu_s() - before < 0.05 * quiet_s:
            break
    print(f"(broker idle after {time.perf_counter() - start:.0f} s)\n", flush=True)


def measure(mode: str, topic: str, limit: int | None = None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, topic]
    if limit:
        command.append(str(limit))
    # A stalled local broker must not hang the benchmark: report the run as failed instead.
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    found["rate"] = found["messages"] / found["seconds"]
    rss = " ".join(f"{mib:5.0f}" for mib in found["rss"])
    print(
        f"  {mode:<18} {found['messages']:>9} msgs {found['seconds']:7.2f} s"
        f" {found['rate']:>10,.0f} msgs/s  (CPU {found['cpu']:6.2f} s)"
        f"   RSS MiB 1/4 1/2 3/4 end peak: {rss}",
        flush=True,
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--naive-messages", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, topic, *limit = args.child
        child(mode, topic, int(limit[0]) if limit else None)
        return

    from ingest.sinks.clickhouse import client
    from ingest.stack.postgres import connect
    from ingest.stack.private import private_stack

    with private_stack(["postgres", "clickhouse", "kafka"], prefix="dwh-bench-") as settings:
        with connect(settings, autocommit=True) as conn:
            conn.execute("create schema if not exists bench")
        ch = client(settings)
        ch.command("create database if not exists bench")
        ch.close()

        topic = "bench-payments"
        topics.ensure_topic(settings, topic, partitions=args.partitions)
        scale = args.messages / (payments.OPERATIONS_PER_DAY * 3.03)
        start = time.perf_counter()
        manifest = payments.publish_day(DAY, settings, scale=scale, topic=topic)
        total = manifest.counts["messages"]
        print(
            f"published {total:,} messages to {topic} ({args.partitions} partitions, lz4) in"
            f" {time.perf_counter() - start:.0f} s; {sum(manifest.dirt.values()):,} with dirt\n",
            flush=True,
        )
        settle(settings)
        results = {}
        for target in TARGETS:
            print(target)
            found = {}
            for name, mode, limit in [
                ("bare", "bare", None),
                ("bare-confluent", "bare-confluent", None),
                ("loader", target, None),
                ("loader-2", f"{target}-two-workers", None),
                ("naive", f"naive-{target}", args.naive_messages),
                ("write", f"write-{target}", args.naive_messages),
                ("to_sql", f"to_sql-{target}", args.naive_messages),
            ]:
                try:
                    found[name] = measure(mode, topic, limit)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                    print(f"  {mode} failed: {str(error.stderr or error).strip()[-300:]}")
            if "loader" in found and found["loader"]["messages"] != total:
                print(f"  the loader landed {found['loader']['messages']} of {total} messages!")
            results[target] = found

        def ratio(found: dict, mine: str, other: str) -> str:
            if mine not in found or other not in found:
                return "  -  "
            return f"{found[mine]['rate'] / found[other]['rate']:5.2f}x"

        print("\nratios (rate / rate; targets: loader >= 0.8x bare, >= 10x to_sql)")
        for target, found in results.items():
            print(
                f"  {target:<11} loader vs bare consume {ratio(found, 'loader', 'bare')}"
                f"   loader vs naive consume+to_sql {ratio(found, 'loader', 'naive')}"
                f"   writing alone: loader's vs to_sql {ratio(found, 'write', 'to_sql')}"
                f"\n  {'':<11} in two workers: vs bare {ratio(found, 'loader-2', 'bare')}"
                f"   vs naive consume+to_sql {ratio(found, 'loader-2', 'naive')}"
                f"\n  {'':<11} loader vs its own client's bare consume (confluent-kafka)"
                f" {ratio(found, 'loader', 'bare-confluent')}"
            )
        print("\nRSS of the loader through its run (MiB at 1/4, 1/2, 3/4, end; peak)")
        for target, found in results.items():
            if "loader" in found and "bare" in found:
                profile = " ".join(f"{mib:5.0f}" for mib in found["loader"]["rss"])
                bare_peak = found["bare"]["rss"][-1]
                print(f"  {target:<11} {profile}   (bare consume loop peak {bare_peak:.0f})")


if __name__ == "__main__":
    main()
