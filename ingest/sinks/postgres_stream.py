"""Kafka batches into Postgres, exactly once: the rows and the next offsets in one transaction.

Per batch, one transaction takes a lock for (table, topic), checks that the stored offsets are
the ones this loader resumed from, COPYs the rows and the rejects, and upserts the next offsets.
A loader killed at any moment leaves either the whole batch with its offsets or neither; on
restart it resumes from the stored offsets. Two loaders at once cannot duplicate either: the
lock serialises their transactions and the second one finds offsets it did not expect.
"""

from __future__ import annotations

from psycopg import sql

from ingest.landing import Table
from ingest.loaders.kafka_records import Batch, rejects_table
from ingest.settings import Settings
from ingest.sinks.postgres import _name, create_landing_table, exists, summarize_new
from ingest.sinks.stream import OFFSETS_TABLE, OffsetConflict
from ingest.stack.postgres import connect


def _copy(table: Table) -> sql.Composed:
    return sql.SQL("copy {} ({}) from stdin").format(
        _name(table), sql.SQL(", ").join(map(sql.Identifier, table.all_columns))
    )


class PostgresStreamSink:
    def __init__(self, settings: Settings) -> None:
        # Autocommit, so that each `transaction()` block is a real transaction of its own;
        # UTC, so that the landed timestamps (UTC text) mean what they say.
        self.conn = connect(settings, autocommit=True, options="-c TimeZone=UTC")

    def _offsets(self, table: Table) -> sql.Composed:
        return sql.Identifier(table.schema, OFFSETS_TABLE)

    def _create(self, table: Table) -> bool:
        """Create one landing table with its indexes; True if it did not exist."""
        existed = exists(self.conn, _name(table))
        create_landing_table(self.conn, table)
        return not existed

    def ensure(self, table: Table) -> None:
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("create schema if not exists {}").format(sql.Identifier(table.schema))
            )
            self.conn.execute(
                sql.SQL(
                    "create table if not exists {} (consumer text, topic text, partition int,"
                    " next_offset bigint not null, updated_at timestamptz not null default now(),"
                    " primary key (consumer, topic, partition))"
                ).format(self._offsets(table))
            )
            created = self._create(table)
            self._create(rejects_table(table))
            if created:  # a new table starts from the beginning of its topics
                self.conn.execute(
                    sql.SQL("delete from {} where consumer = %s").format(self._offsets(table)),
                    (table.qualified,),
                )

    def positions(self, table: Table, topic: str) -> dict[int, int]:
        rows = self.conn.execute(
            sql.SQL(
                "select partition, next_offset from {} where consumer = %s and topic = %s"
            ).format(self._offsets(table)),
            (table.qualified, topic),
        ).fetchall()
        return dict(rows)

    def write(self, table: Table, batch: Batch, expected: dict[int, int]) -> None:
        offsets = self._offsets(table)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"kafka:{table.qualified}:{batch.topic}",),
            )
            stored = dict(
                cur.execute(
                    sql.SQL(
                        "select partition, next_offset from {}"
                        " where consumer = %s and topic = %s and partition = any(%s)"
                    ).format(offsets),
                    (table.qualified, batch.topic, list(batch.next_offsets)),
                ).fetchall()
            )
            if any(stored.get(p) != expected.get(p) for p in batch.next_offsets):
                raise OffsetConflict(batch.topic, stored)
            if batch.rows:
                with cur.copy(_copy(table)) as out:
                    out.write(batch.rows_data())
                summarize_new(cur, table)
            if batch.rejects:
                with cur.copy(_copy(rejects_table(table))) as out:
                    out.write(batch.rejects_data())
                summarize_new(cur, rejects_table(table))
            cur.executemany(
                sql.SQL(
                    "insert into {} (consumer, topic, partition, next_offset)"
                    " values (%s, %s, %s, %s) on conflict (consumer, topic, partition) do update"
                    " set next_offset = excluded.next_offset, updated_at = now()"
                ).format(offsets),
                [(table.qualified, batch.topic, p, o) for p, o in batch.next_offsets.items()],
            )

    def close(self) -> None:
        self.conn.close()
