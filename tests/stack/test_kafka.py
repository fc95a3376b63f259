"""The local Kafka-protocol broker (noida-db) against kafka-python: what the loaders rely on."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from ingest.settings import Settings
from ingest.stack.kafka import Kafka

PARTITIONS = 3


@pytest.fixture
def topic(dwh: Settings) -> Iterator[str]:
    """A fresh 3-partition topic, so tests never see each other's messages."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=dwh["DWH_KAFKA_BOOTSTRAP"])
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        admin.close()
    yield name


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
    for i in range(count):
        producer.send(topic, key=f"key-{i % 5}".encode(), value=f"value-{i}".encode())
    producer.flush()
    producer.close()


def consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Read `count` messages as consumer group `group` and commit its offsets."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    values = []
    for message in consumer:
        values.append(message.value)
        if len(values) == count:
            break
    consumer.commit()
    consumer.close()
    return values


def offsets(bootstrap: str, topic: str, group: str) -> tuple[dict, dict]:
    """The group's committed offsets and the topic's end offsets, by partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    committed = {tp.partition: consumer.committed(tp) for tp in partitions}
    ends = {tp.partition: end for tp, end in consumer.end_offsets(partitions).items()}
    consumer.close()
    return committed, ends


def test_round_trip_with_consumer_group(dwh: Settings, topic: str) -> None:
    bootstrap = dwh["DWH_KAFKA_BOOTSTRAP"]
    produce(bootstrap, topic, 20)

    values = consume(bootstrap, topic, "loader", 20)

    assert sorted(values) == sorted(f"value-{i}".encode() for i in range(20))
    committed, ends = offsets(bootstrap, topic, "loader")
    assert committed == ends
    assert sum(ends.values()) == 20
    assert all(ends.values()), "keys should spread over every partition"


def test_data_survives_restart(dwh: Settings, topic: str) -> None:
    bootstrap = dwh["DWH_KAFKA_BOOTSTRAP"]
    produce(bootstrap, topic, 10)
    consume(bootstrap, topic, "loader", 10)
    produce(bootstrap, topic, 5)
    before = offsets(bootstrap, topic, "loader")

    kafka = Kafka(dwh)
    try:
        assert kafka.stop()
        assert not kafka.healthy()
    finally:
        kafka.start()

    assert offsets(bootstrap, topic, "loader") == before
    # The group resumes where it committed: only the 5 messages produced after.
    assert sorted(consume(bootstrap, topic, "loader", 5)) == sorted(
        f"value-{i}".encode() for i in range(5)
    )


def test_listens_on_loopback_only(dwh: Settings) -> None:
    kafka = Kafka(dwh)
    pid = kafka.pid()
    assert pid is not None
    assert kafka.describe() == f"kafka://{dwh['DWH_KAFKA_BOOTSTRAP']}"
    listening = listening_addresses(pid)
    assert ("0100007F", dwh.kafka_port) in listening
    # Besides Kafka, noida-db opens a control port; every socket must be on 127.0.0.1.
    assert {host for host, _ in listening} == {"0100007F"}


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(hex IPv4 or IPv6 address, port) of every TCP socket `pid` listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # 0A: LISTEN
                    host, port = local.split(":")
                    found.add((host, int(port, 16)))
    return found
