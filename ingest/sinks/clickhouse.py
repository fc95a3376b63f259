"""ClickHouse sink: insert the batch into a scratch table, then swap its partition in atomically.

Landing tables are partitioned by `_batch_date`, so `REPLACE PARTITION` is the one atomic step
that makes a reload replace the day: readers see the old rows or the new ones, never both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from itertools import islice

import clickhouse_connect

from ingest.landing import Table
from ingest.settings import Settings
from ingest.sinks import Row

INSERT_BLOCK = 100_000


def client(settings: Settings, **kwargs):
    """A clickhouse-connect client for the configured server (HTTP interface)."""
    return clickhouse_connect.get_client(
        host=settings["DWH_CH_HOST"],
        port=settings.port("DWH_CH_PORT"),
        username=settings["DWH_CH_USER"],
        password=settings["DWH_CH_PASSWORD"],
        **kwargs,
    )


def quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _name(table: Table) -> str:
    return f"{quote(table.schema)}.{quote(table.name)}"


def _blocks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while block := list(islice(iterator, size)):
        yield block


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
        self.ensure_table(table)
        scratch = replace(table, name=f"_load_{table.name}_{uuid.uuid4().hex[:12]}")
        self.client.command(f"create table {_name(scratch)} as {_name(table)}")
        partition = batch_date.strftime("%Y%m%d")
        try:
            count = 0
            for block in _blocks(rows, INSERT_BLOCK):
                self.client.insert(
                    scratch.name,
                    [(*row, batch_date) for row in block],
                    database=scratch.schema,
                    column_names=list(table.all_columns),
                )
                count += len(block)
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
