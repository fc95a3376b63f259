"""Stream sinks: append Kafka batches and remember how far each partition has been landed.

A file or a day is replaced as a whole (`Sink.replace_batch`); a topic is an endless log, so its
unit is an offset range per partition. A stream sink stores, with the rows, the offset to resume
from; a loader restarted after any crash asks the sink, not the broker, where to start.

Offsets are kept per (consumer, topic, partition) where the consumer is the landing table's
qualified name: the offsets belong to the table, and a table created afresh starts from the
beginning of the topic.
"""

from __future__ import annotations

from typing import Protocol

from ingest.landing import Table
from ingest.loaders.kafka_records import Batch
from ingest.settings import Settings

OFFSETS_TABLE = "_offsets"


class OffsetConflict(RuntimeError):
    """Another loader wrote this topic meanwhile; the batch was not written."""

    def __init__(self, topic: str, stored: dict[int, int]) -> None:
        super().__init__(f"another loader moved the offsets of {topic!r} to {stored}")
        self.stored = stored


class StreamSink(Protocol):
    def ensure(self, table: Table) -> None:
        """Create the landing table, its rejects table and the offsets table if needed."""
        ...

    def positions(self, table: Table, topic: str) -> dict[int, int]:
        """partition -> next offset to land, for partitions landed before."""
        ...

    def write(self, table: Table, batch: Batch, expected: dict[int, int]) -> None:
        """Land the batch and move the offsets to `batch.next_offsets`.

        `expected` is what the caller believes is stored now (from `positions` and its own
        writes); a sink that can detect a concurrent writer raises OffsetConflict instead.
        """
        ...

    def close(self) -> None: ...


def connect_stream(target: str, settings: Settings) -> StreamSink:
    if target == "postgres":
        from ingest.sinks.postgres_stream import PostgresStreamSink

        return PostgresStreamSink(settings)
    if target == "clickhouse":
        from ingest.sinks.clickhouse_stream import ClickHouseStreamSink

        return ClickHouseStreamSink(settings)
    if target == "vertica":
        from ingest.sinks.vertica_stream import VerticaStreamSink

        return VerticaStreamSink(settings)
    raise ValueError(f"unknown target {target!r}; choose from postgres, clickhouse, vertica")
