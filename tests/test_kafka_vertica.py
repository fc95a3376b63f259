"""The Kafka loader's Vertica sink: statements and stream (pure), then a real server if any.

There is no Vertica in the local stack: the integration test runs wherever DWH_VERTICA_HOST
points at one (e.g. docker-compose's `vertica` profile) and is skipped otherwise.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from ingest.landing import TRANSACTION_SERVICE_INPUT
from ingest.loaders import kafka as loader
from ingest.loaders.kafka_records import Batch, Encoder, rejects_table
from ingest.sinks import vertica_stream

TOPIC = "transaction-service-input"


def test_landing_tables_are_partitioned_by_month_beside_an_offsets_table():
    schema, offsets, table, rejects = vertica_stream.create_statements(TRANSACTION_SERVICE_INPUT)
    assert schema == 'create schema if not exists "raw_kafka"'
    assert offsets.startswith('create table if not exists "raw_kafka"."_offsets" (consumer')
    assert table.startswith(
        'create table if not exists "raw_kafka"."transaction_service_input" ("payload" varchar'
    )
    assert '"_offset" int' in table and '"_timestamp" timestamptz' in table
    assert table.endswith(
        'partition by extract(year from "_batch_date") * 100 + extract(month from "_batch_date")'
    )
    assert '"raw_kafka"."transaction_service_input_rejects" ("reason" varchar' in rejects
    assert vertica_stream.copy_statement(TRANSACTION_SERVICE_INPUT).endswith(
        "abort on error no commit"
    )
    assert vertica_stream.lock_statement(TRANSACTION_SERVICE_INPUT) == (
        'lock table "raw_kafka"."_offsets" in exclusive mode'
    )


def parse(line: str) -> list[str | None]:
    """Vertica's delimited format as the sink writes it: `,` between fields, NULL empty,
    strings enclosed in `"` with backslash escapes, numbers bare."""
    values: list[str | None] = []
    i = 0
    while True:
        if line[i : i + 1] == '"':
            i, chars = i + 1, []
            while line[i] != '"':
                i += line[i] == "\\"  # an escaped character stands for itself
                chars.append(line[i])
                i += 1
            values.append("".join(chars))
            i += 1
        else:
            end = line.find(",", i)
            end = len(line) if end < 0 else end
            values.append(line[i:end] or None)
            i = end
        if i >= len(line):
            return values
        assert line[i] == ","
        i += 1


def lines(data: bytes) -> list[str]:
    """Records of the stream: an escaped newline belongs to its value."""
    return re.split(r"(?<!\\)\n", data.decode())[:-1]


def test_the_loaders_lines_become_vertica_lines_with_every_value_kept():
    payload = '{"a":\t"x, \\"y\\"",\n "b": "back\\\\slash"}\r\n'
    stamp = (TIMESTAMP_CREATE_TIME, 1_664_755_200_123)
    records = [
        Message(
            topic=TOPIC, partition=2, offset=41, key=b"k,1", value=payload.encode(), timestamp=stamp
        ),
        Message(topic=TOPIC, partition=2, offset=42, key=None, value=b"{cut", timestamp=stamp),
    ]
    batch = Batch(TOPIC)
    Encoder(TOPIC).encode(records, batch)

    [row] = lines(b"".join(vertica_stream.stream(TRANSACTION_SERVICE_INPUT, batch.rows)))
    assert parse(row) == [payload, TOPIC, "2", "41", "k,1", "2022-10-03 00:00:00.123", "2022-10-03"]
    rejects = rejects_table(TRANSACTION_SERVICE_INPUT)
    [reject] = lines(b"".join(vertica_stream.stream(rejects, batch.rejects)))
    values = parse(reject)
    assert values[0].startswith("value is not JSON") and values[2] == f"{TOPIC}/2/42"
    assert values[3:] == [TOPIC, "2", "42", None, "2022-10-03 00:00:00.123", "2022-10-03"]


@pytest.fixture(scope="module")
def vertica_settings(request):
    if not os.environ.get("DWH_VERTICA_HOST"):
        pytest.skip("DWH_VERTICA_HOST is not set: no Vertica server to test against")
    return request.getfixturevalue("dwh")


def test_drains_a_topic_into_a_real_vertica_once(vertica_settings):
    from ingest import topics

    settings = vertica_settings
    topic = f"vertica-{uuid.uuid4().hex[:8]}"
    topics.ensure_topic(settings, topic)
    out = topics.producer(settings)
    for number in range(300):
        out.send(topic, key=str(number).encode(), value=f'{{"n": {number}}}'.encode())
    out.send(topic, value=b"not json")
    out.flush()
    out.close()
    table = loader.table_for(topic)
    first = loader.drain(topic, table, "vertica", settings, batch_size=100)
    again = loader.drain(topic, table, "vertica", settings)
    assert (first.loaded, first.rejected, again.loaded, again.rejected) == (300, 1, 0, 0)
