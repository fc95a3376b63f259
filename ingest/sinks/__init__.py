"""Sinks write batches of landing rows to one engine through its bulk path."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from ingest.landing import Table
from ingest.settings import Settings

Row = tuple[str | None, ...]
TARGETS = ("postgres", "clickhouse", "vertica")


class Sink(Protocol):
    def replace_batch(self, table: Table, batch_date: date, rows: Iterable[Row]) -> int:
        """Atomically replace the rows of `batch_date` in `table` with `rows`; return the count.

        Creates the schema and table first if needed. Readers see the old batch or the new one,
        never a mix or nothing.
        """
        ...

    def replace_batch_csv(self, table: Table, batch_date: date, chunks: Iterable[bytes]) -> int:
        """Like replace_batch, from CSV bytes: the same atomic replacement of the day.

        UTF-8, '\\n'-terminated lines holding every column of `table.all_columns`, RFC 4180
        quoting; an empty unquoted field is NULL, a quoted "" an empty string.

        For loaders that already hold CSV (ingest/loaders/s3.py): it goes to the engine's CSV
        bulk path without becoming Python rows. Returns the row count the engine reports.
        """
        ...

    def close(self) -> None: ...


def connect(target: str, settings: Settings) -> Sink:
    if target == "postgres":
        from ingest.sinks.postgres import PostgresSink

        return PostgresSink(settings)
    if target == "clickhouse":
        from ingest.sinks.clickhouse import ClickHouseSink

        return ClickHouseSink(settings)
    if target == "vertica":
        from ingest.sinks.vertica import VerticaSink

        return VerticaSink(settings)
    raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
