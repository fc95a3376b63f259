"""ClickHouse sink: insert the batch into a scratch table, then swap its partition in atomically.

Landing tables are partitioned by `_batch_date`, so `REPLACE PARTITION` is the one atomic step
that makes a reload replace the day: readers see the old rows or the new ones, never both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date
from itertools import chain, islice

from ingest.landing import Table
from ingest.settings import Settings
from ingest.sinks import Row
from ingest.stack.clickhouse import client

INSERT_BLOCK = 100_000


def quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _name(table: Table) -> str:
    return f"{quote(table.schema)}.{quote(table.name)}"


def _blocks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while block := list(islice(iterator, size)):
        yield block


# CSV read like Postgres reads it: no trimming, no single-quote strings, `\\N` only when quoted
# away by the writer (ingest/loaders/s3.py quotes any line with a backslash).
CSV_AS_POSTGRES = {
    "input_format_csv_trim_whitespaces": 0,
    "format_csv_allow_single_quotes": 0,
    "input_format_csv_empty_as_default": 1,
    "input_format_csv_detect_header": 0,
}

TYPES = {"text": "Nullable(String)", "int": "Int64", "timestamp": "DateTime64(3, 'UTC')"}


class ClickHouseSink:
    def __init__(self, settings: Settings) -> None:
        self.client = client(settings)

    def ensure_table(self, table: Table) -> None:
        typed = [(column, "text") for column in table.columns] + list(table.meta)
        columns = ", ".join(f"{quote(column)} {TYPES[kind]}" for column, kind in typed)
        self.client.command(f"create database if not exists {quote(table.schema)}")
        self.client.command(
            f"create table if not exists {_name(table)} ({columns}, _batch_date Date,"
            " _loaded_at DateTime64(3, 'UTC') default now64(3))"
            " engine = MergeTree partition by _batch_date order by tuple()"
        )

    def replace_batch(self, table: Table, batch_date: date, rows: Iterable[Row]) -> int:
        def fill(scratch: Table) -> int:
            count = 0
            for block in _blocks(rows, INSERT_BLOCK):
                self.client.insert(
                    scratch.name,
                    [(*row, batch_date) for row in block],
                    database=scratch.schema,
                    column_names=list(table.all_columns),
                )
                count += len(block)
            return count

        return self._swap_in(table, batch_date, fill)

    def replace_batch_csv(self, table: Table, batch_date: date, chunks: Iterable[bytes]) -> int:
        """Like replace_batch, from CSV bytes holding every column of `table.all_columns`.

        Streamed as one HTTP `INSERT ... FORMAT CSV`, read the way Postgres reads CSV: values
        as they are (no trimming), an empty unquoted field NULL, a quoted "" an empty string.
        Returns the count the server reports.
        """

        def fill(scratch: Table) -> int:
            iterator = iter(chunks)
            first = next(iterator, None)
            if first is None:
                return 0
            summary = self.client.raw_insert(
                _name(scratch),
                column_names=list(table.all_columns),
                insert_block=chain([first], iterator),
                settings=CSV_AS_POSTGRES,
                fmt="CSV",
            )
            return int(summary.written_rows)

        return self._swap_in(table, batch_date, fill)

    def _swap_in(self, table: Table, batch_date: date, fill: Callable[[Table], int]) -> int:
        """Fill a scratch copy of `table`, then swap its partition in (or drop it if empty)."""
        self.ensure_table(table)
        scratch = replace(table, name=f"_load_{table.name}_{uuid.uuid4().hex[:12]}")
        self.client.command(f"create table {_name(scratch)} as {_name(table)}")
        partition = batch_date.strftime("%Y%m%d")
        try:
            count = fill(scratch)
            if count:
                self.client.command(
                    f"alter table {_name(table)} replace partition id '{partition}'"
                    f" from {_name(scratch)}"
                )
            else:
                self.client.command(f"alter table {_name(table)} drop partition id '{partition}'")
        finally:
            self.client.command(f"drop table if exists {_name(scratch)}")
        return count

    def close(self) -> None:
        self.client.close()
