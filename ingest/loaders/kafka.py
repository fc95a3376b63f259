"""Kafka topics -> landing tables, exactly once: drain for Airflow, follow as a resident service.

drain: read every assigned partition up to the end offsets seen at start, land, stop.
follow: keep reading and landing until stopped (SIGTERM or SIGINT: the batch in hand is landed,
then the process exits 0).

Both resume from the offsets stored in the target with the rows (see ingest/sinks/stream.py),
never from the broker's consumer-group offsets, so a loader killed at any moment neither loses
nor duplicates a record. Records land as-is with topic, partition, offset, key and timestamp;
records that are not UTF-8 JSON go to `<table>_rejects` (see kafka_records.py).

What `--date` means for Kafka: a topic is a log, not a folder of days, so a drain lands
everything published so far whatever the date; `load_day(day)` is a drain of every topic in
KAFKA_TOPICS. Each row's `_batch_date` is the UTC date of the record's timestamp (its event
time), which is what dbt selects a day's window by. Running it again for any date lands only
what arrived since.

Records are read with confluent-kafka (librdkafka, in C), which parses records for a fraction of
what kafka-python (the rest of the project's client, for producing and administering topics)
costs in Python. Partitions are assigned and positioned by the loader; the client's consumer
group is never joined or committed to.

Isolation: records are read uncommitted by default, like every non-transactional producer's
records are. `read_committed` is available, but the local broker (noida-db) lists aborted
transactions in a way that makes clients skip later committed records of the same producer
(kafka-python, and librdkafka when a fetch starts after the aborted transaction's marker), so it
is not the default.

A drain can split the partitions over worker processes (`--workers N`, see drain_all).

    python -m ingest.loaders.kafka --target postgres              # drain every topic once
    python -m ingest.loaders.kafka --target postgres --workers 2  # the same in two processes
    python -m ingest.loaders.kafka --target postgres --follow     # a resident loader
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import multiprocessing
import os
import pickle
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from tqdm import tqdm

from ingest import topics
from ingest.landing import KAFKA_META, KAFKA_TOPICS, Table
from ingest.loaders import LoadResult
from ingest.loaders.kafka_records import Batch, Encoder
from ingest.settings import Settings
from ingest.settings import load as load_settings
from ingest.sinks import TARGETS
from ingest.sinks.stream import OffsetConflict, StreamSink, connect_stream

log = logging.getLogger(__name__)

BATCH_SIZE = 50_000  # records per write: one transaction (Postgres) or one insert (ClickHouse)
FLUSH_INTERVAL = 1.0  # follow mode: seconds a record may wait for its batch to fill
IDLE_TIMEOUT = 60.0  # drain mode: fail when the end offsets are not reached for this long
REFRESH_INTERVAL = 30.0  # follow mode: look for new partitions and topics this often
POLL_SECONDS = 0.2
POLL_RECORDS = 10_000  # records a poll hands over at most
ISOLATION_LEVEL = "read_uncommitted"  # see the module's doc
METADATA_TIMEOUT = 10.0  # seconds for the broker to list partitions or offsets
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that started it dies
CONSUMER_CONFIG = {
    "group.id": "dwh-loader",  # the client requires one; nothing is ever committed to it
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "allow.auto.create.topics": False,
    # A stored offset below the log start (records deleted by retention) resumes at the start.
    "auto.offset.reset": "earliest",
    # Say when a partition's end is reached: a transaction's marker at the end of a partition
    # takes an offset no record has, so the last record's offset + 1 can stay below the end.
    "enable.partition.eof": True,
    # The local broker (noida-db) answers a fetch with everything after the offset asked for,
    # whatever size the client asks for: a partition of 333,000 payments is one 101 MB answer,
    # above librdkafka's default limit (100 MB), so the client would drop the connection and
    # fetch again forever. A real Kafka keeps to the fetch sizes (librdkafka's defaults: 1 MiB a
    # partition).
    "receive.message.max.bytes": 2**30,
}

Partition = tuple[str, int]  # (topic, partition): picklable, for the workers of a parallel drain


class DrainStalled(RuntimeError):
    """The broker stopped sending before the end offsets: the rest is for the next run."""


def table_for(topic: str) -> Table:
    """The landing table of a topic: the contract's table, or raw_kafka.<topic as a name>."""
    if topic in KAFKA_TOPICS:
        return KAFKA_TOPICS[topic]
    return Table("raw_kafka", re.sub(r"\W", "_", topic).lower(), ("payload",), KAFKA_META)


def consumer(settings: Settings, isolation_level: str = ISOLATION_LEVEL) -> Consumer:
    """A consumer whose partitions are assigned and positioned by the loader."""
    return Consumer(
        {
            **CONSUMER_CONFIG,
            "bootstrap.servers": topics.bootstrap(settings),
            "isolation.level": isolation_level,
            "logger": log,
        }
    )


@dataclass
class _Topic:
    """One topic being landed: its table, what is stored, what is in hand, what was done."""

    name: str
    table: Table
    encoder: Encoder
    stored: dict[int, int] = field(default_factory=dict)  # partition -> next offset in the target
    partitions: set[int] = field(default_factory=set)
    batch: Batch | None = None
    loaded: int = 0
    rejected: int = 0

    def result(self) -> LoadResult:
        return LoadResult(self.table.qualified, self.loaded, self.rejected)


class _Writer:
    """Writes batches in a thread of its own, so the database works while Kafka is read.

    One batch waits in the queue at most: memory stays bounded, and the reader blocks when the
    database is the slower side. A failed write stops all later ones (their expected offsets
    would be wrong); the reader re-raises the error at its next submit or wait. An
    OffsetConflict (Postgres: another loader wrote the topic) marks the topic instead, and its
    later batches are dropped until the reader has re-positioned it.
    """

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink
        self.jobs: queue.Queue[tuple[_Topic, Batch, dict[int, int]] | None] = queue.Queue(1)
        self.error: BaseException | None = None
        self.conflicts: set[str] = set()
        self.thread = threading.Thread(target=self._run, name="kafka-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                state, batch, expected = job
                if self.error is None and state.name not in self.conflicts:
                    self._write(state, batch, expected)
            finally:
                self.jobs.task_done()

    def _write(self, state: _Topic, batch: Batch, expected: dict[int, int]) -> None:
        try:
            self.sink.write(state.table, batch, expected)
        except OffsetConflict:
            self.conflicts.add(state.name)
        except BaseException as error:  # re-raised in the reader's thread
            self.error = error
        else:
            state.loaded += len(batch.rows)
            state.rejected += len(batch.rejects)

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, state: _Topic, batch: Batch, expected: dict[int, int]) -> None:
        self.check()
        self.jobs.put((state, batch, expected))

    def wait(self) -> None:
        """Return when every submitted batch is written (or dropped); raise a write error."""
        self.jobs.join()
        self.check()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class Loader:
    """Lands a set of topics through one consumer into one target."""

    def __init__(
        self,
        topic_tables: Mapping[str, Table],
        target: str,
        settings: Settings,
        batch_size: int = BATCH_SIZE,
        isolation_level: str = ISOLATION_LEVEL,
        share: Collection[Partition] | None = None,
    ) -> None:
        self.settings = settings
        self.batch_size = batch_size
        self.share = share  # these partitions only (a worker of a parallel drain); None: all
        self.positions: dict[Partition, int] = {}  # the next offset to read, per partition
        self.topics = {
            name: _Topic(name, table, Encoder(name)) for name, table in topic_tables.items()
        }
        self.sink: StreamSink = connect_stream(target, settings)
        try:
            for state in self.topics.values():
                self.sink.ensure(state.table)
            self.consumer = consumer(settings, isolation_level)
        except BaseException:
            self.sink.close()
            raise
        try:
            self.assign()
        except BaseException:
            self.consumer.close()
            self.sink.close()
            raise
        self.writer = _Writer(self.sink)

    # --- positions ----------------------------------------------------------------------------

    def assign(self) -> bool:
        """Assign every partition of every topic; position new ones at the stored offsets."""
        found = {}
        for state in self.topics.values():
            found[state.name] = {
                p
                for p in self._partitions(state.name)
                if self.share is None or (state.name, p) in self.share
            }
        if all(found[name] == state.partitions for name, state in self.topics.items()):
            return False
        for name, state in self.topics.items():
            state.partitions = found[name]
            self._seek(state)
        self._reassign()
        return True

    def _partitions(self, topic: str) -> set[int]:
        """The topic's partitions (none when it does not exist)."""
        metadata = self.consumer.list_topics(topic, timeout=METADATA_TIMEOUT).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return set()
        return set(metadata.partitions)

    def _seek(self, state: _Topic) -> None:
        """Position the topic's partitions at the offsets stored in the target (the consumer
        follows at the next `_reassign`)."""
        state.stored = self.sink.positions(state.table, state.name)
        state.batch = None
        for p in sorted(state.partitions):
            start, _ = self.watermarks(state.name, p)
            stored = state.stored.get(p, 0)
            if stored < start:
                log.warning(
                    "%s/%d: offsets %d to %d were deleted by the broker (retention) before"
                    " they were landed; resuming at %d",
                    state.name,
                    p,
                    stored,
                    start - 1,
                    start,
                )
            self.positions[state.name, p] = max(stored, start)

    def _reassign(self) -> None:
        """Start every partition afresh from its position: what the client had fetched ahead is
        dropped; the topics not re-positioned go on after the records in hand."""
        self.consumer.unassign()
        self.consumer.assign([TopicPartition(*tp, self.positions[tp]) for tp in self.assigned()])

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """The partition's first offset and its end (the offset the next record will get)."""
        return self.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=METADATA_TIMEOUT, cached=False
        )

    def assigned(self) -> list[Partition]:
        return [(s.name, p) for s in self.topics.values() for p in sorted(s.partitions)]

    def end_offsets(self) -> dict[Partition, int]:
        return {tp: self.watermarks(*tp)[1] for tp in self.assigned()}

    def shares(self, ends: Mapping[Partition, int], workers: int) -> list[list[Partition]]:
        """The partitions with records before `ends`, split into at most `workers` shares of
        about equal size."""
        pending = {tp: ends[tp] - self.positions[tp] for tp in self.assigned()}
        pending = {tp: count for tp, count in pending.items() if count > 0}
        shares: list[list[Partition]] = [[] for _ in range(min(workers, len(pending)))]
        sizes = [0] * len(shares)
        for tp in sorted(pending, key=pending.__getitem__, reverse=True):
            smallest = sizes.index(min(sizes))  # the biggest partitions first, each to the
            shares[smallest].append(tp)  # share with the fewest records so far
            sizes[smallest] += pending[tp]
        return shares

    # --- the loop -----------------------------------------------------------------------------

    def poll(self) -> int:
        """Fetch once and encode what came; return the number of records."""
        by_topic: dict[str, list[Message]] = {}
        for message in self.consumer.consume(POLL_RECORDS, POLL_SECONDS):
            if message.error() is None:
                by_topic.setdefault(message.topic(), []).append(message)
            else:
                self._event(message)
        for name, records in by_topic.items():
            state = self.topics[name]
            if state.batch is None:
                state.batch = Batch(name)
            state.encoder.encode(records, state.batch)
            for p, offset in state.batch.next_offsets.items():
                # max: an end of partition reported in this poll may already be further
                self.positions[name, p] = max(self.positions[name, p], offset)
        return sum(map(len, by_topic.values()))

    def _event(self, message: Message) -> None:
        """The end of a partition was reached, or the client reports an error."""
        error = message.error()
        if error.code() == KafkaError._PARTITION_EOF:
            tp = (message.topic(), message.partition())
            self.positions[tp] = max(self.positions[tp], message.offset())
        elif error.fatal():
            raise KafkaException(error)
        else:  # the client retries by itself (a broker restarting, a connection lost)
            log.warning("kafka: %s", error)

    def flush(self, force: bool = False) -> None:
        """Hand every batch in hand to the writer (only the full ones unless `force`)."""
        self.resolve_conflicts()
        for state in self.topics.values():
            batch = state.batch
            if batch is None or not batch.next_offsets:
                continue
            if not force and len(batch) < self.batch_size:
                continue
            # `stored` is what will be stored once the batches already submitted are written.
            self.writer.submit(state, batch, dict(state.stored))
            state.stored.update(batch.next_offsets)
            state.batch = None

    def resolve_conflicts(self) -> None:
        """Re-position the topics another loader wrote meanwhile (Postgres only)."""
        if not self.writer.conflicts:
            return
        self.writer.wait()
        for name in sorted(self.writer.conflicts):
            log.warning("%s: another loader wrote meanwhile; resuming from its offsets", name)
            self._seek(self.topics[name])
        self._reassign()
        self.writer.conflicts.clear()

    def finish(self) -> bool:
        """Write what is in hand and wait until it is stored; False if another loader's writes
        made us drop batches (the topics are re-positioned: reading on lands what is missing).
        """
        self.flush(force=True)
        self.writer.wait()
        if self.writer.conflicts:
            self.resolve_conflicts()
            return False
        return True

    def in_hand(self) -> int:
        return sum(len(s.batch) for s in self.topics.values() if s.batch is not None)

    def drain(
        self, ends: Mapping[Partition, int] | None = None, position: int = 0
    ) -> list[LoadResult]:
        """Land every record up to `ends` (default: the end offsets seen now), then stop.

        `position`: the line of the progress bar, one per worker of a parallel drain.
        """
        partitions = self.assigned()
        ends = self.end_offsets() if ends is None else ends
        total = sum(max(0, ends[tp] - self.positions[tp]) for tp in partitions)
        progress = tqdm(
            total=total, unit="msg", desc="kafka", disable=None, leave=False, position=position
        )
        last_progress = time.monotonic()
        try:
            while True:
                self.resolve_conflicts()
                remaining = [tp for tp in partitions if self.positions[tp] < ends[tp]]
                if not remaining:
                    if self.finish():
                        break
                    continue  # re-positioned behind another loader: read on from there
                done = [TopicPartition(*tp) for tp in partitions if tp not in remaining]
                if done:  # read no further than the end offsets seen at start
                    self.consumer.pause(done)
                self.consumer.resume([TopicPartition(*tp) for tp in remaining])
                count = self.poll()
                progress.update(count)
                self.flush()
                if count:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > IDLE_TIMEOUT:
                    self.finish()  # what was read is landed: a rerun goes on from there
                    where = ", ".join(
                        f"{topic}/{p} at {self.positions[topic, p]} of {ends[topic, p]}"
                        for topic, p in remaining
                    )
                    raise DrainStalled(
                        f"nothing arrived for {IDLE_TIMEOUT:.0f}s before the end offsets seen at"
                        f" start ({where}); what was read is landed. Check the broker"
                        f" ({topics.bootstrap(self.settings)}) and run again."
                    )
        finally:
            progress.close()
        return [state.result() for state in self.topics.values()]

    def follow(self, stop: threading.Event, flush_interval: float = FLUSH_INTERVAL) -> None:
        """Land records as they arrive until `stop` is set; then land what is in hand."""
        oldest = None  # when the oldest record in hand arrived
        refreshed = time.monotonic()
        while not stop.is_set():
            count = self.poll()
            now = time.monotonic()
            if count and oldest is None:
                oldest = now
            # Write when the stream pauses, when a batch is full, or when a record has waited
            # long enough.
            if oldest is not None and (
                not count or now - oldest >= flush_interval or self.in_hand() >= self.batch_size
            ):
                self.flush(force=True)
                oldest = None
            if now - refreshed > REFRESH_INTERVAL:  # new topics or partitions?
                refreshed = now
                self.flush(force=True)
                self.writer.wait()  # positions are re-read from the target: let it catch up
                self.resolve_conflicts()
                oldest = None
                if self.assign():
                    log.info("now following %d partitions", len(self.assigned()))
        self.finish()

    def results(self) -> list[LoadResult]:
        return [state.result() for state in self.topics.values()]

    def close(self) -> None:
        try:
            self.writer.close()
            self.consumer.close()
        finally:
            self.sink.close()


def drain(
    topic: str,
    table: Table,
    target: str,
    settings: Settings,
    batch_size: int = BATCH_SIZE,
    isolation_level: str = ISOLATION_LEVEL,
) -> LoadResult:
    """Land `topic` into `table` up to the end offsets seen at start (a missing topic: nothing)."""
    return drain_all({topic: table}, target, settings, batch_size, isolation_level)[0]


def drain_all(
    topic_tables: Mapping[str, Table],
    target: str,
    settings: Settings,
    batch_size: int = BATCH_SIZE,
    isolation_level: str = ISOLATION_LEVEL,
    workers: int = 1,
) -> list[LoadResult]:
    """Drain several topics up to the end offsets seen at start: through one consumer, or with
    their partitions split over at most `workers` processes (see Loader.shares). Checking and
    encoding records is Python, so one process does at most a core's worth; on 2 cores one
    process is faster (docs/kafka.md). Each worker lands its own partitions exactly once, as a
    single loader does; the writes to one table and topic still take turns (the sinks' locks)."""
    loader = Loader(topic_tables, target, settings, batch_size, isolation_level)
    try:
        ends = loader.end_offsets()
        shares = loader.shares(ends, workers)
        if len(shares) < 2:
            return loader.drain(ends)
    finally:
        loader.close()
    log.info("draining in %d processes: %s", len(shares), shares)
    args = (topic_tables, target, settings, batch_size, isolation_level)
    level = logging.getLogger().getEffectiveLevel()
    with ProcessPoolExecutor(
        len(shares),
        mp_context=multiprocessing.get_context("spawn"),  # nothing inherited: no threads
        initializer=_start_worker,
        initargs=(os.getpid(), level),
    ) as pool:
        found = [
            pool.submit(_drain_share, *args, {tp: ends[tp] for tp in share}, position)
            for position, share in enumerate(shares)
        ]
        per_worker = [future.result() for future in found]
    return [  # each worker has a result per topic, in the order of topic_tables
        LoadResult(same[0].table, sum(r.loaded for r in same), sum(r.rejected for r in same))
        for same in zip(*per_worker, strict=True)
    ]


def _start_worker(parent: int, level: int) -> None:
    """A worker of a parallel drain: dies with the loader that started it, even by SIGKILL
    (Linux: the death signal follows the thread that started it, which waits for the workers
    to finish), and logs like it."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before that
        os._exit(1)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")


def _drain_share(
    topic_tables: Mapping[str, Table],
    target: str,
    settings: Settings,
    batch_size: int,
    isolation_level: str,
    ends: dict[Partition, int],
    position: int,
) -> list[LoadResult]:
    """A worker of a parallel drain: land the partitions of `ends` up to them."""
    loader = Loader(topic_tables, target, settings, batch_size, isolation_level, list(ends))
    try:
        return loader.drain(ends, position)
    except BaseException as error:
        try:  # the error goes back to the loader pickled
            pickle.loads(pickle.dumps(error))
        except Exception:  # it would only see "a process terminated abruptly"
            raise RuntimeError(f"{type(error).__name__}: {error}") from None
        raise
    finally:
        loader.close()


def follow(
    topic_tables: Mapping[str, Table],
    target: str,
    settings: Settings,
    stop: threading.Event,
    batch_size: int = BATCH_SIZE,
    flush_interval: float = FLUSH_INTERVAL,
    isolation_level: str = ISOLATION_LEVEL,
) -> list[LoadResult]:
    """Land the topics as records arrive until `stop` is set; return what was landed."""
    loader = Loader(topic_tables, target, settings, batch_size, isolation_level)
    try:
        loader.follow(stop, flush_interval)
        return loader.results()
    finally:
        loader.close()


def load_day(day: date, target: str, settings: Settings) -> list[LoadResult]:
    """`dwh ingest kafka --date D`: drain every topic of the contract (see the module doc)."""
    return drain_all(KAFKA_TOPICS, target, settings)


# --- the command line: `python -m ingest.loaders.kafka` -----------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.loaders.kafka",
        description="Land Kafka topics in raw_kafka: drain once (default) or follow until stopped.",
    )
    parser.add_argument("--target", default="postgres", choices=TARGETS)
    parser.add_argument("--follow", action="store_true", help="run until SIGTERM/SIGINT")
    parser.add_argument(
        "--topic",
        action="append",
        help="a topic to land (repeatable; default: every topic of the contract); a topic "
        "outside the contract lands in raw_kafka.<topic>",
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument(
        "--workers",
        type=_positive,
        help="drain: at most this many processes to split the partitions over (default 1)",
    )
    parser.add_argument("--flush-interval", type=float, default=FLUSH_INTERVAL)
    parser.add_argument(
        "--isolation-level",
        default=ISOLATION_LEVEL,
        choices=["read_uncommitted", "read_committed"],
    )
    return parser


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.follow and args.workers:
        parser.error("--workers is for a drain; --follow runs in one process")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    topic_tables = {name: table_for(name) for name in args.topic} if args.topic else KAFKA_TOPICS
    if not args.follow:
        for result in drain_all(
            topic_tables,
            args.target,
            settings,
            args.batch_size,
            args.isolation_level,
            args.workers or 1,
        ):
            print(result, flush=True)
        return
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        log.info("signal %d: landing what is in hand, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("following %s into %s", ", ".join(topic_tables), args.target)
    results = follow(
        topic_tables,
        args.target,
        settings,
        stop,
        args.batch_size,
        args.flush_interval,
        args.isolation_level,
    )
    for result in results:
        print(result, flush=True)


if __name__ == "__main__":
    sys.exit(main())
