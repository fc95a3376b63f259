"""Kafka topics the warehouse reads: created explicitly, kept forever, published exactly once.

Generators publish event-time timestamps (days in 2022), so a topic with the broker's default
retention would have them deleted at once: every topic we create has `retention.ms = -1`.
Producing to a missing topic would auto-create it with one partition and the default retention,
which is why generators call `ensure_topic` first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ingest.settings import Settings

DEFAULT_PARTITIONS = 3
KEEP_FOREVER = {"retention.ms": "-1"}
# Which (topic, day) a generator has published, so `dwh generate` can run again without
# duplicating a day: see `read_markers` and ingest/generators/payments.py.
MARKER_TOPIC = "_dwh_published"


def bootstrap(settings: Settings) -> str:
    return settings["DWH_KAFKA_BOOTSTRAP"]


def ensure_topic(settings: Settings, name: str, partitions: int = DEFAULT_PARTITIONS) -> bool:
    """Create `name` with `partitions` and unlimited retention unless it exists; True if created.

    An existing topic is left as it is (its partition count and retention are not changed).
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap(settings), request_timeout_ms=10_000)
    try:
        if name in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(name, partitions, 1, topic_configs=KEEP_FOREVER)])
        except TopicAlreadyExistsError:  # created by someone else meanwhile
            return False
        return True
    finally:
        admin.close()


def topic_exists(settings: Settings, name: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap(settings), request_timeout_ms=10_000)
    try:
        return name in admin.list_topics()
    finally:
        admin.close()


def producer(settings: Settings, **config: Any) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement and batches generously."""
    options: dict[str, Any] = {
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "compression_type": "lz4",
    }
    options.update(config)
    return KafkaProducer(bootstrap_servers=bootstrap(settings), **options)


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """partition -> offset after its last record (empty if the topic does not exist)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), allow_auto_create_topics=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: end for tp, end in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def read_range(
    settings: Settings,
    topic: str,
    since: dict[int, int] | None = None,
    partitions: Iterable[int] | None = None,
    stall_s: float = 30.0,
) -> Iterator[Any]:
    """Records of `partitions` (default: all) from `since` (default: the start) to the end now.

    Raises TimeoutError when no record arrives for `stall_s` seconds before the end.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap(settings),
        enable_auto_commit=False,
        allow_auto_create_topics=False,
    )
    try:
        chosen = consumer.partitions_for_topic(topic) if partitions is None else partitions
        assigned = [TopicPartition(topic, p) for p in chosen]
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        for tp in assigned:
            if since and tp.partition in since:
                consumer.seek(tp, since[tp.partition])
        ends = consumer.end_offsets(assigned)
        progress = time.monotonic()
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            fetched = consumer.poll(timeout_ms=500)
            for tp, records in fetched.items():
                yield from (record for record in records if record.offset < ends[tp])
            if fetched:
                progress = time.monotonic()
            elif time.monotonic() - progress > stall_s:
                raise TimeoutError(f"reading {topic}: nothing arrived for {stall_s:.0f}s")
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str, partitions: Iterable[int] | None = None) -> list[Any]:
    """Every record of `topic` (or of its `partitions`), from the start to the end seen now."""
    return list(read_range(settings, topic, partitions=partitions))


def read_markers(settings: Settings) -> dict[str, dict]:
    """The latest publication marker per key (`<topic>/<YYYY-MM-DD>`), oldest first overwritten."""
    if not topic_exists(settings, MARKER_TOPIC):
        return {}
    markers: dict[str, dict] = {}
    for record in read_all(settings, MARKER_TOPIC):
        markers[record.key.decode()] = json.loads(record.value)
    return markers


def write_marker(settings: Settings, key: str, value: dict) -> None:
    """Record a publication marker; returns once the broker has acknowledged it."""
    ensure_topic(settings, MARKER_TOPIC, partitions=1)
    out = producer(settings, linger_ms=0)
    try:
        out.send(MARKER_TOPIC, key=key.encode(), value=json.dumps(value, sort_keys=True).encode())
        out.flush()
    finally:
        out.close()
