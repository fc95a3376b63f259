"""Kill the Kafka loader with SIGKILL while it writes, again and again: nothing lost, nothing twice.

The loader runs as a subprocess (`python -m ingest.loaders.kafka --follow`, or a drain split
over two worker processes) while a producer keeps sending; each kill comes a random moment after
the loader has landed something since the last restart, so it falls while batches are being
written. Then one drain finishes the job and the landed set must equal the produced set exactly:
on Postgres as stored, on ClickHouse as dbt sees it (FINAL, i.e. deduplicated on topic,
partition, offset). A parallel drain's workers die with it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest import topics
from ingest.engines import fetch
from ingest.landing import Table
from ingest.loaders import kafka as loader
from ingest.loaders.kafka_records import rejects_table
from ingest.settings import REPO_ROOT, Settings
from ingest.sinks.stream import connect_stream

KILLS = 10
TARGETS = ["postgres", "clickhouse"]
PER_SECOND = 5000  # produced while the loader is being killed: it is never idle for long
INVALID_EVERY = 25  # every 25th message is not JSON, so the rejects path is killed too
DRAIN_BACKLOG = 5000  # records a parallel drain starts with: about 500 batches to kill it in
MODES = {
    "follow": ["--follow", "--batch-size", "20", "--flush-interval", "0.1"],
    "parallel-drain": ["--workers", "2", "--batch-size", "10"],
}


def start_loader(target: str, topic: str, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "ingest.loaders.kafka", "--target", target, "--topic", topic]
    return subprocess.Popen(
        [*command, *extra],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),  # noqa: SIM115 - closed with the process
        text=True,
    )


def workers_of(pid: int) -> list[int]:
    """The worker processes `pid` started with multiprocessing (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if parent == pid and b"spawn_main" in command:  # not multiprocessing's resource tracker
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def create(target: str, settings: Settings, table: Table) -> None:
    """The landing tables, before the first loader (which would create them) is running."""
    sink = connect_stream(target, settings)
    try:
        sink.ensure(table)
    finally:
        sink.close()


def wait_for(condition: Callable[[], bool], failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def produced_count(settings: Settings, topic: str) -> int:
    return sum(topics.end_offsets(settings, topic).values())


def landed_count(target: str, settings: Settings, table: Table) -> int:
    """Rows and rejects stored so far, duplicates included (any progress counts)."""
    return sum(
        fetch(target, settings, f"select count(*) from {t.schema}.{t.name}")[0][0]  # noqa: S608
        for t in (table, rejects_table(table))
    )


def landed_set(target: str, settings: Settings, table: Table) -> list[tuple]:
    """(partition, offset, key, value) of every landed record, as dbt sees them."""
    final = " final" if target == "clickhouse" else ""
    rows = fetch(
        target,
        settings,
        f"select _partition, _offset, _key, payload from {table.schema}.{table.name}{final}",  # noqa: S608
    )
    rejects = fetch(
        target,
        settings,
        f"select _partition, _offset, _key, reason from {table.schema}.{table.name}_rejects{final}",  # noqa: S608
    )
    return rows + [(p, o, k, "rejected") for p, o, k, _ in rejects]


class Producer(threading.Thread):
    """Sends numbered messages at a steady pace until stopped; remembers where each went."""

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(daemon=True)
        self.out = topics.producer(settings, linger_ms=5)
        self.topic = topic
        self.stop = threading.Event()
        self.futures: list = []

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            for _ in range(PER_SECOND // 20):
                key = f"key-{number}"
                value = f'{{"n": {number}}}' if number % INVALID_EVERY else f"not json {number}"
                future = self.out.send(self.topic, key=key.encode(), value=value.encode())
                self.futures.append((future, key, value, bool(number % INVALID_EVERY)))
                number += 1
            time.sleep(0.05)
        self.out.flush()
        self.out.close()

    def produced(self) -> list[tuple]:
        found = []
        for future, key, value, valid in self.futures:
            meta = future.get(timeout=10)
            found.append((meta.partition, meta.offset, key, value if valid else "rejected"))
        return found


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", TARGETS)
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(dwh, target, mode, tmp_path):
    topic = f"crash-{target}-{uuid.uuid4().hex[:8]}"
    topics.ensure_topic(dwh, topic, partitions=3)
    table = loader.table_for(topic)
    create(target, dwh, table)
    rng = random.Random(20221001)
    producer = Producer(dwh, topic)
    producer.start()
    log = tmp_path / "loader.log"
    counts_at_kill = []
    starts = 0
    try:
        # records in every partition: a drain can be split
        wait_for(
            lambda: min(topics.end_offsets(dwh, topic).values(), default=0) >= 100,
            "the producer sent nothing",
        )
        while len(counts_at_kill) < KILLS:
            starts += 1
            assert starts <= 3 * KILLS, "the drains kept ending before they were killed"
            before = landed_count(target, dwh, table) if counts_at_kill else 0
            if mode == "parallel-drain":  # a drain with work to do, so that a kill can hit it
                wait_for(
                    lambda start=before: produced_count(dwh, topic) - start >= DRAIN_BACKLOG,
                    "the producer fell behind",
                )
            process = start_loader(target, topic, log, *MODES[mode])
            workers = []
            try:
                # A parallel drain counts from when its workers run: a COMMIT the last loader
                # sent just before its kill may become visible meanwhile.
                if mode == "parallel-drain":
                    wait_for(
                        lambda p=process: len(workers_of(p.pid)) >= 2 or p.poll() is not None,
                        f"no worker processes; see {log}",
                    )
                    before = landed_count(target, dwh, table)
                # running and writing (a drain may also end first: checked below)
                wait_for(
                    lambda start=before, p=process: (
                        landed_count(target, dwh, table) > start or p.poll() is not None
                    ),
                    f"the loader landed nothing; see {log}",
                )
                # a drain of the backlog lasts a few tenths of a second on Postgres
                time.sleep(rng.uniform(0, 0.1 if mode == "parallel-drain" else 0.4))
                workers = workers_of(process.pid)
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait()
            if process.returncode == 0 and mode == "parallel-drain":
                continue  # it reached its end offsets first: not a kill, start another
            assert process.returncode == -signal.SIGKILL, f"the loader exited early; see {log}"
            if mode == "parallel-drain":
                wait_for(
                    lambda found=workers: not any(map(alive, found)),
                    "a worker outlived its loader",
                    seconds=10,
                )
            counts_at_kill.append(len(set(landed_set(target, dwh, table))))
    finally:
        producer.stop.set()
        producer.join()

    finish = start_loader(target, topic, log)  # drain: up to the end offsets, then exit
    out, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, f"the final drain failed; see {log}"

    produced = producer.produced()
    assert len(counts_at_kill) == KILLS and counts_at_kill == sorted(counts_at_kill)
    assert counts_at_kill[-1] < len(produced), "the kills came while records were arriving"
    landed = landed_set(target, dwh, table)
    missing = set(produced) - set(landed)
    duplicated = len(landed) - len(set(landed))
    assert (len(missing), duplicated) == (0, 0)
    assert sorted(landed) == sorted(produced)


def test_follow_mode_stops_cleanly_on_sigterm(dwh, tmp_path):
    topic = f"follow-{uuid.uuid4().hex[:8]}"
    topics.ensure_topic(dwh, topic, partitions=2)
    table = loader.table_for(topic)
    create("postgres", dwh, table)
    process = start_loader("postgres", topic, tmp_path / "loader.log", "--follow")
    out = topics.producer(dwh)
    try:
        for number in range(50):
            out.send(topic, value=f'{{"n": {number}}}'.encode())
        out.flush()
        deadline = time.monotonic() + 30
        while landed_count("postgres", dwh, table) < 50:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        for number in range(50, 80):
            out.send(topic, value=f'{{"n": {number}}}'.encode())
        out.flush()
    finally:
        out.close()
        process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    stored = landed_count("postgres", dwh, table)
    assert f"{table.qualified}: {stored} rows loaded, 0 rejected" in stdout
    # Whatever it had not read yet, a drain lands; in all, each message once.
    loader.drain(topic, table, "postgres", dwh)
    assert fetch(
        "postgres",
        dwh,
        f"select count(*), count(distinct (_partition, _offset)) from {table.qualified}",  # noqa: S608
    ) == [(80, 80)]
