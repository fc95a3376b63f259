"""Kafka records -> landing lines (the loader's pure part): rows as-is, rejects with a reason."""

from __future__ import annotations

import base64
import re

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from ingest.landing import TRANSACTION_SERVICE_INPUT
from ingest.loaders import kafka_records
from ingest.loaders.kafka_records import Batch, Encoder

TOPIC = "transaction-service-input"
STAMP = 1_664_755_200_123  # 2022-10-03 00:00:00.123 UTC


def record(
    offset: int, value: bytes | None, key: bytes | None = b"k", timestamp=STAMP, partition=1
) -> Message:
    """A record as the consumer returns it; `timestamp=None`: the message has none."""
    stamp = (
        (TIMESTAMP_NOT_AVAILABLE, -1) if timestamp is None else (TIMESTAMP_CREATE_TIME, timestamp)
    )
    return Message(
        topic=TOPIC, partition=partition, offset=offset, key=key, value=value, timestamp=stamp
    )


def unescape(field: str) -> str | None:
    """Read one field of the COPY text / TabSeparated format back."""
    if field == "\\N":
        return None
    codes = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\[\\tnr]", lambda m: codes[m.group()], field)


def fields(line: str) -> list[str | None]:
    assert line.endswith("\n") and line.count("\n") == 1, "one line per record"
    return [unescape(field) for field in line[:-1].split("\t")]


def encode(*records) -> Batch:
    batch = Batch(TOPIC)
    Encoder(TOPIC).encode(records, batch)
    return batch


def test_a_json_message_lands_as_is_with_where_it_came_from():
    # JSON whitespace may be tabs and newlines; inside strings they are escaped (backslashes)
    value = '{\t"a": "x",\n "b": "new\\nline \\\\ back", "c": "Цимлянск"}\r\n'.encode()
    batch = encode(record(7, value, key=b"op-1"))
    assert not batch.rejects
    [line] = batch.rows
    row = fields(line)
    assert len(row) == len(TRANSACTION_SERVICE_INPUT.all_columns)
    assert dict(zip(TRANSACTION_SERVICE_INPUT.all_columns, row, strict=True)) == {
        "payload": value.decode(),
        "_topic": TOPIC,
        "_partition": "1",
        "_offset": "7",
        "_key": "op-1",
        "_timestamp": "2022-10-03 00:00:00.123",
        "_batch_date": "2022-10-03",
    }
    assert batch.next_offsets == {1: 8}


def test_any_json_value_and_a_missing_key_or_timestamp_still_land():
    batch = encode(
        record(0, b"[1, 2]", key=None),
        record(1, b'"text"', timestamp=-1),
        record(2, b"  {}  ", timestamp=None),
    )
    rows = [fields(line) for line in batch.rows]
    assert [row[0] for row in rows] == ["[1, 2]", '"text"', "  {}  "]
    assert rows[0][4] is None and rows[1][4] == "k"
    assert rows[1][5:] == [None, "1970-01-01"] and rows[2][5:] == [None, "1970-01-01"]


def test_unreadable_messages_are_rejected_with_reason_raw_and_origin():
    values = {
        0: b'{"cut": "sho',
        1: '{"country": "Россия"}'.encode("cp1251"),
        2: None,
        3: b"",
        4: b'{"a": NaN}',
    }
    batch = encode(*(record(offset, value) for offset, value in values.items()))
    assert not batch.rows
    columns = kafka_records.rejects_table(TRANSACTION_SERVICE_INPUT).all_columns
    rejects = [dict(zip(columns, fields(line), strict=True)) for line in batch.rejects]
    assert [r["_offset"] for r in rejects] == ["0", "1", "2", "3", "4"]
    reasons = [r["reason"].split(":")[0] for r in rejects]
    assert reasons == [
        kafka_records.NOT_JSON,
        kafka_records.NOT_UTF8,
        f"{kafka_records.NO_VALUE} (a tombstone)",
        kafka_records.NOT_JSON,
        kafka_records.NOT_JSON,
    ]
    for reject in rejects:
        offset = int(reject["_offset"])
        assert reject["origin"] == f"{TOPIC}/1/{offset}"
        raw = reject["raw"]
        assert (None if raw is None else base64.b64decode(raw)) == values[offset]
        assert reject["_batch_date"] == "2022-10-03"
    assert batch.next_offsets == {1: 5}


def test_a_key_that_is_not_text_rejects_the_message():
    batch = encode(record(0, b"{}", key=b"\xff\xfe"), record(1, b"{}", key=b"a\x00b"))
    assert not batch.rows
    reasons = [fields(line)[0] for line in batch.rejects]
    assert all(reason.startswith(kafka_records.KEY_NOT_TEXT) for reason in reasons)
    assert "fffe" in reasons[0] and "610062" in reasons[1]


def test_keys_with_special_characters_are_escaped():
    batch = encode(record(0, b"{}", key=b"a\tb\\c\nd"))
    assert fields(batch.rows[0])[4] == "a\tb\\c\nd"


def test_offsets_advance_per_partition():
    batch = encode(record(5, b"{}", partition=0), record(9, b"x", partition=2))
    assert batch.next_offsets == {0: 6, 2: 10}
    assert len(batch) == 2
