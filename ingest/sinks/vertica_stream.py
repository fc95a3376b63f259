"""Kafka batches into Vertica, exactly once: rows and next offsets in one transaction.

The same protocol as Postgres (ingest/sinks/postgres_stream.py): per batch one transaction
locks the offsets table (exclusive mode: concurrent loaders take turns), reads the stored offsets,
checks them against what this loader expects, loads the rows
and the rejects with `COPY ... FROM STDIN ... NO COMMIT` (Vertica's COPY commits by itself
otherwise), replaces the offsets rows and commits. The stream format is the Vertica sink's
(ingest/sinks/vertica.py: delimited, enclosed by '"', backslash escapes).

Landing tables are partitioned by month of `_batch_date`: a topic spans years of days, more
than Vertica's partition limit per table allows by day.

There is no Vertica in the local stack: the statements and the stream are unit-tested, the
loader runs for real wherever DWH_VERTICA_HOST points at a Vertica (docker-compose profile).
"""

from __future__ import annotations

from collections.abc import Iterator

from ingest.landing import Table
from ingest.loaders.kafka_records import Batch, rejects_table
from ingest.settings import Settings
from ingest.sinks.stream import OFFSETS_TABLE, OffsetConflict
from ingest.sinks.vertica import (
    BUFFER_BYTES,
    TYPES,
    ChunkReader,
    connect,
    copy_statement,
    encode_value,
    qualified,
    quote,
)

INT_COLUMNS = ("_partition", "_offset")
LINES_PER_BLOCK = 10_000
_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def offsets_table(table: Table) -> str:
    return f"{quote(table.schema)}.{quote(OFFSETS_TABLE)}"


def create_statements(table: Table) -> list[str]:
    """Schema, offsets table, landing table and its rejects table (all `if not exists`)."""
    statements = [
        f"create schema if not exists {quote(table.schema)}",
        f"create table if not exists {offsets_table(table)} (consumer varchar(1000),"
        " topic varchar(1000), partition int, next_offset int,"
        " updated_at timestamptz not null default now())",
    ]
    for landing in (table, rejects_table(table)):
        typed = [(column, "text") for column in landing.columns] + list(landing.meta)
        columns = ", ".join(f"{quote(column)} {TYPES[kind]}" for column, kind in typed)
        statements.append(
            f"create table if not exists {qualified(landing)} ({columns},"
            ' "_batch_date" date not null, "_loaded_at" timestamptz not null default now())'
            ' partition by extract(year from "_batch_date") * 100'
            ' + extract(month from "_batch_date")'
        )
    return statements


def lock_statement(table: Table) -> str:
    """Loaders of this target take turns from here to commit.

    A statement of its own, so that the select after it sees what the previous holder committed.
    """
    return f"lock table {offsets_table(table)} in exclusive mode"


def unescape(field: str) -> str | None:
    """One field of the loader's text format (see kafka_records.py) back to its value."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, chars = [], iter(field)
    for char in chars:
        out.append(_UNESCAPE[next(chars)] if char == "\\" else char)
    return "".join(out)


def stream(table: Table, lines: list[str]) -> Iterator[bytes]:
    """The loader's lines for `table` as Vertica's delimited COPY stream, in blocks."""
    ints = {table.all_columns.index(column) for column in INT_COLUMNS}
    for start in range(0, len(lines), LINES_PER_BLOCK):
        block = []
        for line in lines[start : start + LINES_PER_BLOCK]:
            values = [unescape(field) for field in line.rstrip("\n").split("\t")]
            block.append(
                ",".join(
                    encode_value(int(value) if i in ints and value is not None else value)
                    for i, value in enumerate(values)
                )
            )
        yield ("\n".join(block) + "\n").encode()


class VerticaStreamSink:
    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings)
        with self.conn.cursor() as cur:
            cur.execute("set time zone to 'UTC'")  # the landed timestamps are UTC text
        self.conn.commit()

    def ensure(self, table: Table) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "select count(*) from v_catalog.tables where table_schema = %s and table_name = %s",
                (table.schema, table.name),
            )
            existed = cur.fetchone()[0] > 0
            for statement in create_statements(table):
                cur.execute(statement)
            if not existed:  # a new table starts from the beginning of its topics
                cur.execute(
                    f"delete from {offsets_table(table)} where consumer = %s",  # noqa: S608
                    (table.qualified,),
                )
        self.conn.commit()

    def positions(self, table: Table, topic: str) -> dict[int, int]:
        with self.conn.cursor() as cur:
            cur.execute(
                f"select partition, next_offset from {offsets_table(table)}"  # noqa: S608
                " where consumer = %s and topic = %s",
                (table.qualified, topic),
            )
            found = {int(p): int(o) for p, o in cur.fetchall()}
        self.conn.commit()
        return found

    def write(self, table: Table, batch: Batch, expected: dict[int, int]) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(lock_statement(table))
                cur.execute(
                    f"select partition, next_offset from {offsets_table(table)}"  # noqa: S608
                    " where consumer = %s and topic = %s",
                    (table.qualified, batch.topic),
                )
                stored = {int(p): int(o) for p, o in cur.fetchall()}
                if any(stored.get(p) != expected.get(p) for p in batch.next_offsets):
                    raise OffsetConflict(batch.topic, stored)
                for landing, lines in ((table, batch.rows), (rejects_table(table), batch.rejects)):
                    if lines:
                        cur.copy(
                            copy_statement(landing),
                            ChunkReader(stream(landing, lines)),
                            buffer_size=BUFFER_BYTES,
                        )
                for partition, offset in batch.next_offsets.items():
                    cur.execute(
                        f"delete from {offsets_table(table)}"  # noqa: S608 - quoted
                        " where consumer = %s and topic = %s and partition = %s",
                        (table.qualified, batch.topic, partition),
                    )
                    cur.execute(
                        f"insert into {offsets_table(table)}"  # noqa: S608 - quoted
                        " (consumer, topic, partition, next_offset) values (%s, %s, %s, %s)",
                        (table.qualified, batch.topic, partition, offset),
                    )
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def close(self) -> None:
        self.conn.close()
