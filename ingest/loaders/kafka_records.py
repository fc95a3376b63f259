"""Kafka records -> landing lines: pure, no server, the loader's hot path.

A record lands as-is when its value is UTF-8 JSON text (any JSON value; what it means is dbt
staging's business). Otherwise it goes to the rejects table with the reason, the raw value in
base64 (standard alphabet, padded: `base64.b64decode(raw)` gives the bytes back) and its origin
`topic/partition/offset`. A record never blocks its partition.

Lines are in the text format that both Postgres `COPY ... FROM STDIN` and ClickHouse
`TabSeparated` read: tab-separated, `\\N` for NULL, backslash escapes for backslash, tab,
newline and carriage return. One encoder serves both engines.

`_batch_date` is the UTC date of the record's timestamp (the event time the producer set), so a
record always lands in the same batch date whichever run loads it; a record without a timestamp
(old message format, timestamp -1) gets 1970-01-01 and a NULL `_timestamp`.

Records are confluent-kafka `Message`s (what the loader's consumer returns; tests build them with
`Message(topic=..., partition=..., offset=..., key=..., value=..., timestamp=(type, ms))`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import msgspec
from confluent_kafka import Message

from ingest.csvline import escape
from ingest.landing import KAFKA_META, Table

# Reasons (a prefix; the rest says where exactly). Tests and people grep for these.
NO_VALUE = "no value"
NOT_UTF8 = "value is not UTF-8"
NOT_JSON = "value is not JSON"
KEY_NOT_TEXT = "key is not text"

NULL = "\\N"
NO_TIMESTAMP_DATE = date(1970, 1, 1)
# Timestamps every engine stores (ClickHouse DateTime64 ends in 2299); others count as missing.
MAX_TIMESTAMP_MS = 10_413_792_000_000
_validate = msgspec.json.Decoder(msgspec.Raw).decode  # checks the syntax, builds nothing


def rejects_table(table: Table) -> Table:
    """The rejects of a Kafka table: reason, raw, origin, plus where the record came from."""
    return Table(table.schema, f"{table.name}_rejects", table.rejects.columns, KAFKA_META)


@dataclass
class Batch:
    """Encoded records of one topic, ready for one write; `next_offsets` commit with them."""

    topic: str
    rows: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    # partition -> offset after the last record of that partition in this batch
    next_offsets: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows) + len(self.rejects)

    def rows_data(self) -> bytes:
        return "".join(self.rows).encode()

    def rejects_data(self) -> bytes:
        return "".join(self.rejects).encode()


_MILLIS = [f"{millis:03d}" for millis in range(1000)]
_TWO_DIGITS = [f"{number:02d}" for number in range(60)]
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Encoder:
    """Encodes the records of one topic; caches the date/time text shared by many records."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.topic_field = escape(topic)
        self._days: dict[int, str] = {}

    def when(self, timestamp: int | None) -> str:
        """The `_timestamp` and `_batch_date` fields and the end of the line (UTC).

        Built from cached pieces: strftime per record would cost more than the rest of the line.
        """
        if timestamp is None or not 0 <= timestamp < MAX_TIMESTAMP_MS:
            return f"{NULL}\t{NO_TIMESTAMP_DATE.isoformat()}\n"
        day, millis = divmod(timestamp, 86_400_000)
        day_text = self._days.get(day)
        if day_text is None:
            day_text = self._days[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        second, millis = divmod(millis, 1000)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        two = _TWO_DIGITS
        return f"{day_text} {two[hour]}:{two[minute]}:{two[second]}.{_MILLIS[millis]}\t{day_text}\n"

    def encode(self, records: Iterable[Message], batch: Batch) -> None:
        """Append each record of this topic to `batch` as a row or reject.

        The loop is the loader's hot path: the common record (UTF-8 JSON value, text key,
        nothing to escape) takes the short way; anything else goes through `_reject_or_row`.
        """
        append = batch.rows.append
        topic = self.topic_field
        validate = _validate
        last: dict[int, int] = batch.next_offsets
        stamp, when = -2, ""
        for record in records:
            partition, offset, value = record.partition(), record.offset(), record.value()
            last[partition] = offset + 1
            _, timestamp = record.timestamp()  # (type, ms); ms is -1 when there is none
            if timestamp != stamp:
                stamp = timestamp
                when = self.when(stamp)
            try:
                text = value.decode()
                validate(value)
            except (AttributeError, UnicodeDecodeError, msgspec.DecodeError):
                self._reject_or_row(record, batch, when)
                continue
            key = record.key()
            if key is None:
                key_text = NULL
            else:
                try:
                    key_text = key.decode()
                except UnicodeDecodeError:
                    key_text = "\x00"  # not printable: the long way below
                if "\\" in key_text or not key_text.isprintable():  # escape, or reject NUL
                    self._reject_or_row(record, batch, when)
                    continue
            if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
                text = escape(text)
            append(f"{text}\t{topic}\t{partition}\t{offset}\t{key_text}\t{when}")

    def _reject_or_row(self, record: Message, batch: Batch, when: str) -> None:
        """The long way for one record: find what is wrong, if anything, and say why."""
        value, key = record.value(), record.key()
        partition, offset = record.partition(), record.offset()
        where = f"{self.topic_field}\t{partition}\t{offset}"
        reason = None
        key_field = NULL
        if key is not None:
            try:
                key_field = escape(key.decode())
            except UnicodeDecodeError as error:
                reason = f"{KEY_NOT_TEXT}: {error} (key hex {key[:64].hex()})"
            else:
                if "\x00" in key_field:  # valid UTF-8, but no database text holds NUL
                    key_field = NULL
                    reason = f"{KEY_NOT_TEXT}: it contains NUL (key hex {key[:64].hex()})"
        if reason is None:
            if value is None:
                reason = f"{NO_VALUE} (a tombstone)"
            else:
                try:
                    text = value.decode()
                    _validate(value)
                except UnicodeDecodeError as error:
                    reason = f"{NOT_UTF8}: {error}"
                except msgspec.DecodeError as error:
                    reason = f"{NOT_JSON}: {error}"
                else:
                    batch.rows.append(f"{escape(text)}\t{where}\t{key_field}\t{when}")
                    return
        raw = NULL if value is None else base64.b64encode(value).decode()
        origin = escape(f"{self.topic}/{partition}/{offset}")
        batch.rejects.append(f"{escape(reason)}\t{raw}\t{origin}\t{where}\t{key_field}\t{when}")
