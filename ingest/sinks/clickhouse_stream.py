"""Kafka batches into ClickHouse, exactly once as dbt sees it.

ClickHouse has no transaction spanning two inserts, so the order of writes carries the
guarantee. Per batch: insert the rows, insert the rejects, then insert the next offsets into
`_offsets`. A loader killed before the offsets insert resumes from the old offsets and inserts
some records again; they are byte-identical rows with the same sorting key
(_topic, _partition, _offset) and the same partition (`_batch_date` is the record's own date),
so ReplacingMergeTree collapses them, and a reader that deduplicates (`FINAL`, or staging's
group by topic, partition, offset) sees each record once. A record below the stored offset was
inserted before the offsets were, so none is ever missing.

Why not resume from max(_offset) in the table itself: one insert that spans several partitions
is written as several parts, not atomically, and the rejects live in a second table, so after a
crash a higher offset can be stored while a lower one is not; a separate offsets row written
last has no such gap. Two loaders running at once are harmless for the same reason.

On a cluster, use the Replicated engines (and insert_quorum) with the same ordering keys.
"""

from __future__ import annotations

from ingest.landing import Table
from ingest.loaders.kafka_records import Batch, escape, rejects_table
from ingest.settings import Settings
from ingest.sinks.clickhouse import client, quote
from ingest.sinks.stream import OFFSETS_TABLE

TYPES = {
    "text": "Nullable(String)",
    "int": "Int64",
    "timestamp": "Nullable(DateTime64(3, 'UTC'))",
}
ORDER_KEY = ("_topic", "_partition", "_offset")  # never NULL, so not Nullable
INSERT_SETTINGS = {"max_partitions_per_insert_block": 0, "async_insert": 0}


def _name(table: Table) -> str:
    return f"{quote(table.schema)}.{quote(table.name)}"


class ClickHouseStreamSink:
    def __init__(self, settings: Settings) -> None:
        self.client = client(settings)

    def _offsets(self, table: Table) -> str:
        return f"{quote(table.schema)}.{quote(OFFSETS_TABLE)}"

    def _create(self, table: Table) -> bool:
        """Create one landing table; True if it did not exist."""
        existed = self.client.command(f"exists table {_name(table)}") == 1
        typed = [(column, "text") for column in table.columns] + list(table.meta)
        columns = ", ".join(
            f"{quote(column)} {TYPES[kind].removeprefix('Nullable(').removesuffix(')')}"
            if column in ORDER_KEY
            else f"{quote(column)} {TYPES[kind]}"
            for column, kind in typed
        )
        self.client.command(
            f"create table if not exists {_name(table)} ({columns}, _batch_date Date,"
            " _loaded_at DateTime64(3, 'UTC') default now64(3))"
            " engine = ReplacingMergeTree partition by toYYYYMM(_batch_date)"
            f" order by ({', '.join(ORDER_KEY)})"
        )
        return not existed

    def ensure(self, table: Table) -> None:
        self.client.command(f"create database if not exists {quote(table.schema)}")
        self.client.command(
            f"create table if not exists {self._offsets(table)} (consumer String, topic String,"
            " partition Int32, next_offset Int64, updated_at DateTime64(3, 'UTC') default now64(3))"
            " engine = ReplacingMergeTree(next_offset) order by (consumer, topic, partition)"
        )
        created = self._create(table)
        self._create(rejects_table(table))
        if created:  # a new table starts from the beginning of its topics
            self.client.command(
                # identifiers quoted, values bound
                f"delete from {self._offsets(table)} where consumer = {{consumer:String}}",  # noqa: S608
                parameters={"consumer": table.qualified},
            )

    def positions(self, table: Table, topic: str) -> dict[int, int]:
        # Offsets only move forward, so the highest row per partition is the current one.
        result = self.client.query(
            f"select partition, max(next_offset) from {self._offsets(table)}"  # noqa: S608
            " where consumer = {consumer:String} and topic = {topic:String} group by partition",
            parameters={"consumer": table.qualified, "topic": topic},
        )
        return {int(p): int(o) for p, o in result.result_rows}

    def _insert(self, table: Table, data: bytes) -> None:
        self.client.raw_insert(
            _name(table),
            column_names=list(table.all_columns),
            insert_block=data,
            settings=INSERT_SETTINGS,
            fmt="TabSeparated",
        )

    def write(self, table: Table, batch: Batch, expected: dict[int, int]) -> None:
        if batch.rows:
            self._insert(table, batch.rows_data())
        if batch.rejects:
            self._insert(rejects_table(table), batch.rejects_data())
        offsets = "".join(
            f"{escape(table.qualified)}\t{escape(batch.topic)}\t{partition}\t{offset}\n"
            for partition, offset in batch.next_offsets.items()
        )
        self.client.raw_insert(
            self._offsets(table),
            column_names=["consumer", "topic", "partition", "next_offset"],
            insert_block=offsets.encode(),
            fmt="TabSeparated",
        )

    def close(self) -> None:
        self.client.close()
