"""Publishing `new_users_events` to the real broker: every event once, even when run again."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from ingest import topics
from ingest.engines import fetch
from ingest.generators import shop
from ingest.loaders import kafka as kafka_loader
from ingest.loaders.kafka_records import NOT_JSON
from ingest.sinks.stream import OFFSETS_TABLE
from ingest.stack.postgres import connect

DAYS = [shop.OPENING, shop.OPENING + timedelta(days=1)]
SCALE = 0.2
DIRT = 0.3


@pytest.fixture
def topic() -> str:
    """A topic of our own: other tests publish the real `new_users_events`."""
    return f"test-shop-events-{uuid.uuid4().hex[:8]}"


def generated(day) -> Counter:
    events, _ = shop.registration_events(day, scale=SCALE, dirt_rate=DIRT)
    return Counter((e.key, e.value, e.timestamp_ms) for e in events)


def on_broker(settings, topic: str) -> list:
    return topics.read_all(settings, topic, range(shop.PARTITIONS))


def as_counter(records) -> Counter:
    return Counter((r.key.decode(), r.value.decode(), r.timestamp) for r in records)


def first_offsets(settings, topic: str) -> list[int]:
    consumer = KafkaConsumer(bootstrap_servers=topics.bootstrap(settings))
    try:
        partitions = [TopicPartition(topic, p) for p in range(shop.PARTITIONS)]
        return sorted(consumer.beginning_offsets(partitions).values())
    finally:
        consumer.close()


def test_publish_lands_each_event_once(dwh, topic):
    expected: Counter = Counter()
    for day in DAYS:
        manifest = shop.publish_events(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic)
        expected += generated(day)
        assert manifest.counts["events.sent"] == manifest.counts["events.messages"] > 0
    assert manifest.dirt["events.malformed_json"] and manifest.dirt["events.duplicate"]

    # days published again, in any order, send nothing
    for day in reversed(DAYS):
        assert (
            shop.publish_events(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic).counts[
                "events.sent"
            ]
            == 0
        )

    time.sleep(2)  # the broker deletes expired messages within a second: these must not be
    records = on_broker(dwh, topic)
    assert as_counter(records) == expected
    assert first_offsets(dwh, topic) == [0] * shop.PARTITIONS
    partition_of: dict[bytes, int] = {}
    for record in records:
        assert partition_of.setdefault(record.key, record.partition) == record.partition
        try:
            payload = json.loads(record.value)
        except json.JSONDecodeError:
            continue
        assert str(payload["user_id"]) == record.key.decode()
        assert set(payload) == set(shop.TABLES["users"].columns)
    assert len(set(partition_of.values())) == shop.PARTITIONS


def test_an_interrupted_publish_is_completed_without_duplicates(dwh, topic):
    day = DAYS[1]
    events, _ = shop.registration_events(day, scale=SCALE, dirt_rate=DIRT)
    half = len(events) // 2
    topics.ensure_topic(dwh, topic, shop.PARTITIONS)
    out = topics.producer(dwh)
    for event in events[:half]:  # what a publisher killed half-way had sent
        out.send(
            topic,
            key=event.key.encode(),
            value=event.value.encode(),
            timestamp_ms=event.timestamp_ms,
        )
    out.flush()
    out.close()

    manifest = shop.publish_events(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic)

    assert manifest.counts["events.sent"] == len(events) - half
    assert as_counter(on_broker(dwh, topic)) == generated(day)


def test_a_day_published_with_other_parameters_is_refused(dwh, topic):
    day = DAYS[0]
    shop.publish_events(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic)
    with pytest.raises(ValueError, match="published with other parameters"):
        shop.publish_events(day, dwh, seed=7, scale=SCALE, dirt_rate=DIRT, topic=topic)
    assert as_counter(on_broker(dwh, topic)) == generated(day)


def test_the_kafka_loader_lands_the_events_and_rejects_broken_json(dwh, topic):
    """End to end through the Kafka loader, into a table of this test's own."""
    manifests = {
        day: shop.publish_events(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic) for day in DAYS
    }
    table = kafka_loader.table_for(topic)
    try:
        result = kafka_loader.drain(topic, table, "postgres", dwh)
        broken = {day: m.dirt["events.malformed_json"] for day, m in manifests.items()}
        assert result.rejected == sum(broken.values()) > 0
        assert (
            result.loaded
            == sum(m.counts["events.messages"] for m in manifests.values()) - result.rejected
        )
        for day, manifest in manifests.items():
            landed = fetch(
                "postgres",
                dwh,
                f'select count(*) from "raw_kafka"."{table.name}" where _batch_date = %(day)s',  # noqa: S608
                {"day": day},
            )
            assert landed == [(manifest.counts["events.messages"] - broken[day],)]
        reasons = fetch("postgres", dwh, f'select reason from "raw_kafka"."{table.name}_rejects"')  # noqa: S608
        assert reasons and all(reason.startswith(NOT_JSON) for (reason,) in reasons)
    finally:
        with connect(dwh) as conn:
            for name in (table.name, f"{table.name}_rejects"):
                conn.execute(
                    sql.SQL("drop table if exists {}").format(sql.Identifier(table.schema, name))
                )
            offsets = sql.Identifier(table.schema, OFFSETS_TABLE)
            conn.execute(
                sql.SQL("delete from {} where consumer = %s").format(offsets), (table.qualified,)
            )
