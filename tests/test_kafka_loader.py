"""The Kafka loader on the real broker, Postgres and ClickHouse: exact counts, as-is, rejects.

Every test uses its own topics (a unique name), so other tests' messages never interfere; the
contract's topics are only touched by the wiring test at the end, which asserts nothing about
what others put there.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections import Counter
from datetime import date

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from ingest import pipeline, topics
from ingest.engines import fetch
from ingest.generators import payments
from ingest.landing import KAFKA_TOPICS, Table
from ingest.loaders import kafka as loader
from ingest.loaders import kafka_records
from ingest.settings import Settings
from ingest.sinks.postgres import summarize_new
from ingest.stack import postgres

TARGETS = ["postgres", "clickhouse"]
# Days no other test publishes; a leap day for good measure.
DAYS = [date(2020, 2, 28), date(2020, 2, 29)]
SCALE = 0.2
DIRT = 0.1  # more than the default, so that every kind of dirt occurs at this small scale


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def table_rows(target: str, settings: Settings, table: Table, columns: str) -> list[tuple]:
    """Rows as dbt sees them: ClickHouse deduplicated (FINAL)."""
    final = " final" if target == "clickhouse" else ""
    query = f"select {columns} from {table.schema}.{table.name}{final}"  # noqa: S608 - test names
    return fetch(target, settings, query)


def generated() -> list[payments.Message]:
    return [m for day in DAYS for m in payments.generate(day, scale=SCALE, dirt_rate=DIRT)[0]]


def readable(message: payments.Message) -> bool:
    """UTF-8 JSON, checked here with the standard library, not with the loader's code."""
    try:
        json.loads(message.value.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


@pytest.fixture(scope="module")
def published(dwh: Settings) -> tuple[str, Table, list]:
    """Two days of payments on a topic of their own."""
    topic = unique_topic("payments")
    manifests = [
        payments.publish_day(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic) for day in DAYS
    ]
    return topic, loader.table_for(topic), manifests


@pytest.fixture(scope="module")
def landed(published, dwh: Settings) -> dict[str, object]:
    topic, table, _ = published
    return {target: loader.drain(topic, table, target, dwh) for target in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_counts_equal_the_manifest(published, landed, dwh, target):
    topic, table, manifests = published
    expected = [payments.expected_landing(m) for m in manifests]
    assert landed[target].loaded == sum(rows for rows, _ in expected)
    assert landed[target].rejected == sum(rejects for _, rejects in expected)
    by_day = Counter(day for (day,) in table_rows(target, dwh, table, "_batch_date"))
    assert [by_day[day] for day in DAYS] == [rows for rows, _ in expected]
    rejects = kafka_records.rejects_table(table)
    by_day = Counter(day for (day,) in table_rows(target, dwh, rejects, "_batch_date"))
    assert [by_day[day] for day in DAYS] == [rejected for _, rejected in expected]


@pytest.mark.parametrize("target", TARGETS)
def test_every_message_lands_as_is(published, landed, dwh, target):
    """Duplicates, stray whitespace, NULLs and unknown statuses land untouched for staging."""
    topic, table, _ = published
    sent = Counter(
        (message.value.decode(), message.key.decode())
        for message in generated()
        if readable(message)
    )
    got = Counter(table_rows(target, dwh, table, "payload, _key"))
    assert got == sent
    offsets = table_rows(target, dwh, table, "_partition, _offset")
    assert len(set(offsets)) == len(offsets), "each message once"


@pytest.mark.parametrize("target", TARGETS)
def test_rejects_say_why_and_keep_the_raw_bytes(published, landed, dwh, target):
    topic, table, manifests = published
    rejects = table_rows(
        target, dwh, kafka_records.rejects_table(table), "reason, raw, origin, _partition, _offset"
    )
    reasons = Counter(reason.split(":")[0] for reason, *_ in rejects)
    assert reasons == {
        kafka_records.NOT_JSON: sum(m.dirt[payments.MALFORMED_JSON] for m in manifests),
        kafka_records.NOT_UTF8: sum(m.dirt[payments.NOT_UTF8] for m in manifests),
    }
    unreadable = Counter(m.value for m in generated() if not readable(m))
    assert Counter(base64.b64decode(raw) for _, raw, *_ in rejects) == unreadable
    assert {origin for _, _, origin, *_ in rejects} == {
        f"{topic}/{partition}/{offset}" for *_, partition, offset in rejects
    }


@pytest.mark.parametrize("target", TARGETS)
def test_a_second_run_changes_nothing(published, landed, dwh, target):
    topic, table, manifests = published
    before = sorted(table_rows(target, dwh, table, "_partition, _offset, payload"))
    again = loader.drain(topic, table, target, dwh)
    assert (again.loaded, again.rejected) == (0, 0)
    assert sorted(table_rows(target, dwh, table, "_partition, _offset, payload")) == before


@pytest.mark.parametrize("target", TARGETS)
def test_a_drain_split_over_processes_lands_what_one_process_lands(
    published, landed, dwh, target, caplog
):
    topic, table, _ = published
    split = loader.table_for(f"{topic}-split")  # a table of its own: it starts at offset 0
    with caplog.at_level(logging.INFO, logger=loader.__name__):
        result = loader.drain_all({topic: split}, target, dwh, workers=3)[0]
    assert "draining in 3 processes" in caplog.text
    assert (result.loaded, result.rejected) == (landed[target].loaded, landed[target].rejected)
    rows = "_partition, _offset, payload, _key, _timestamp, _batch_date"
    assert sorted(table_rows(target, dwh, split, rows)) == sorted(
        table_rows(target, dwh, table, rows)
    )
    rejects = "_partition, _offset, reason, raw, origin"
    split_rejects, rejects_one = map(kafka_records.rejects_table, (split, table))
    assert sorted(table_rows(target, dwh, split_rejects, rejects)) == sorted(
        table_rows(target, dwh, rejects_one, rejects)
    )


def test_postgres_drains_leave_no_page_range_unsummarized(published, dwh):
    """As for the S3 loads (test_s3_loader.py): each batch summarizes the BRIN ranges it adds
    (two days at this scale fill more than the first range)."""
    topic, _, _ = published
    table = loader.table_for(f"{topic}-brin")  # a table of its own: it starts at offset 0
    result = loader.drain(topic, table, "postgres", dwh)
    assert result.loaded and result.rejected
    with postgres.connect(dwh) as conn, conn.cursor() as cur:
        assert summarize_new(cur, table) == 0


def test_publishing_a_day_again_sends_nothing(published, dwh):
    topic, _, manifests = published
    ends = topics.end_offsets(dwh, topic)
    assert (
        payments.publish_day(DAYS[0], dwh, scale=SCALE, dirt_rate=DIRT, topic=topic)
        == (manifests[0])
    )
    assert topics.end_offsets(dwh, topic) == ends
    with pytest.raises(payments.AlreadyPublished, match="seed=42"):
        payments.publish_day(DAYS[0], dwh, seed=7, scale=SCALE, dirt_rate=DIRT, topic=topic)


@pytest.mark.parametrize("target", TARGETS)
def test_messages_from_other_clients_load_the_same_way(dwh, target):
    """A plain kafka-python producer: no keys, gzip, explicit partitions, tombstones, garbage."""
    topic = unique_topic("other-clients")
    topics.ensure_topic(dwh, topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=dwh["DWH_KAFKA_BOOTSTRAP"], compression_type="gzip")
    sent = [
        (None, b'{"user_id": 1}', 0),
        (b"k2", b'{"user_id": 2, "note": "tab\\t, newline\\n, quote\\" "}', 1),
        (b"k3", b"[1, 2, 3]", 0),
        (b"k4", None, 1),  # a tombstone
        (b"k5", b"not json at all", 0),
        (b"k6", b"\x00\x01\x02\xff", 1),
        (b"\xc3\x28", b"{}", 0),  # a key that is not UTF-8
        (None, b'{"user_id": 8}', None),  # partition chosen by the client
    ]
    futures = [
        producer.send(topic, key=key, value=value, partition=partition)
        for key, value, partition in sent
    ]
    producer.flush()
    where = [(f.get(timeout=10).partition, f.get(timeout=10).offset) for f in futures]
    producer.close()

    table = loader.table_for(topic)
    result = loader.drain(topic, table, target, dwh)

    assert (result.loaded, result.rejected) == (4, 4)
    rows = {
        (p, o): (payload, key)
        for p, o, payload, key in table_rows(
            target, dwh, table, "_partition, _offset, payload, _key"
        )
    }
    assert rows == {
        where[i]: (sent[i][1].decode(), None if sent[i][0] is None else sent[i][0].decode())
        for i in (0, 1, 2, 7)
    }
    rejects = {
        (p, o): (reason.split(":")[0], raw)
        for p, o, reason, raw in table_rows(
            target, dwh, kafka_records.rejects_table(table), "_partition, _offset, reason, raw"
        )
    }
    assert rejects == {
        where[3]: (f"{kafka_records.NO_VALUE} (a tombstone)", None),
        where[4]: (kafka_records.NOT_JSON, base64.b64encode(sent[4][1]).decode()),
        where[5]: (kafka_records.NOT_UTF8, base64.b64encode(sent[5][1]).decode()),
        where[6]: (kafka_records.KEY_NOT_TEXT, base64.b64encode(sent[6][1]).decode()),
    }


def test_a_drain_ends_when_a_transaction_marker_ends_the_partition(dwh):
    """A transaction ends with a marker that takes an offset but is no record: the last record's
    offset + 1 stays below the end offset, and the drain must still finish. Read uncommitted
    (the default), an aborted transaction's record lands too."""
    topic = unique_topic("transaction")
    topics.ensure_topic(dwh, topic, partitions=1)
    producer = KafkaProducer(
        bootstrap_servers=dwh["DWH_KAFKA_BOOTSTRAP"], transactional_id=f"test-{topic}"
    )
    producer.init_transactions()
    for number, commit in ((1, True), (2, False), (3, True)):
        producer.begin_transaction()
        producer.send(topic, value=b'{"n": %d}' % number)
        producer.flush()
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()
    assert topics.end_offsets(dwh, topic) == {0: 6}  # each record and its marker

    result = loader.drain(topic, loader.table_for(topic), "postgres", dwh)  # else DrainStalled

    assert (result.loaded, result.rejected) == (3, 0)


def test_records_deleted_before_landing_are_reported(dwh, caplog):
    """Records the broker deleted (retention) before a drain are named in a warning."""
    topic = unique_topic("retention")
    admin = KafkaAdminClient(bootstrap_servers=dwh["DWH_KAFKA_BOOTSTRAP"])
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "60000"})])
    admin.close()
    producer = topics.producer(dwh)
    for value in (b'{"old": 1}', b'{"old": 2}', b'{"old": 3}'):
        producer.send(topic, value=value, timestamp_ms=1_000_000_000_000)  # 2001: past retention
    producer.flush()
    partition = TopicPartition(topic, 0)
    watcher = KafkaConsumer(bootstrap_servers=dwh["DWH_KAFKA_BOOTSTRAP"])
    deadline = time.monotonic() + 60
    while watcher.beginning_offsets([partition])[partition] < 3:
        assert time.monotonic() < deadline, "the broker kept records past their retention"
        time.sleep(0.2)
    watcher.close()
    producer.send(topic, value=b'{"new": 1}')  # timestamped now: kept
    producer.flush()
    producer.close()

    with caplog.at_level(logging.WARNING, logger=loader.__name__):
        result = loader.drain(topic, loader.table_for(topic), "postgres", dwh)

    assert result.loaded == 1
    assert f"{topic}/0: offsets 0 to 2 were deleted by the broker" in caplog.text


def test_two_postgres_loaders_at_once_never_duplicate(published, dwh):
    """The second loader's first batch meets offsets it did not expect, re-reads, and goes on."""
    topic, _, manifests = published
    table = loader.table_for(unique_topic("twice"))
    first = loader.Loader({topic: table}, "postgres", dwh, batch_size=500)
    second = loader.Loader({topic: table}, "postgres", dwh, batch_size=500)
    try:
        # Both positioned at the start; the first lands everything, then the second runs.
        [one] = first.drain()
        [two] = second.drain()
    finally:
        first.close()
        second.close()
    expected = sum(payments.expected_landing(m)[0] for m in manifests)
    assert one.loaded == expected and two.loaded == 0
    assert table_rows(
        "postgres", dwh, table, "count(*), count(distinct (_partition, _offset))"
    ) == [(expected, expected)]


@pytest.mark.parametrize("target", TARGETS)
def test_ingest_kafka_lands_every_contract_topic(dwh, target):
    """`dwh ingest kafka --date D`: every topic of the contract, and again lands nothing new."""
    day = date(2022, 10, 1)
    results = pipeline.ingest_kafka(day, target, dwh)
    assert [r.table for r in results] == [t.qualified for t in KAFKA_TOPICS.values()]
    again = pipeline.ingest_kafka(day, target, dwh)
    assert [(r.loaded, r.rejected) for r in again] == [(0, 0)] * len(KAFKA_TOPICS)
    for table in KAFKA_TOPICS.values():  # the tables exist for dbt even when a topic is empty
        table_rows(target, dwh, table, "count(*)")
        table_rows(target, dwh, kafka_records.rejects_table(table), "count(*)")


def test_an_interrupted_publication_resumes_without_duplicates(dwh):
    """As if `dwh generate` died after sending part of a day: the rerun sends only the rest."""
    topic = unique_topic("interrupted")
    day = DAYS[0]
    topics.ensure_topic(dwh, topic)
    messages, manifest = payments.generate(day, scale=SCALE, dirt_rate=DIRT)
    start = {str(p): end for p, end in topics.end_offsets(dwh, topic).items()}
    params = {"seed": 42, "scale": SCALE, "dirt_rate": DIRT}
    topics.write_marker(
        dwh,
        f"{topic}/{day}",
        {**params, "state": "started", "start_offsets": start, "end_offsets": start},
    )
    out = topics.producer(dwh)
    for message in messages[: len(messages) // 3]:  # what reached the broker before the crash
        out.send(topic, key=message.key, value=message.value, timestamp_ms=message.timestamp_ms)
    out.flush()
    out.close()

    assert payments.publish_day(day, dwh, scale=SCALE, dirt_rate=DIRT, topic=topic) == manifest

    on_topic = Counter((r.key, r.value, r.timestamp) for r in topics.read_all(dwh, topic))
    assert on_topic == Counter((m.key, m.value, m.timestamp_ms) for m in messages)
