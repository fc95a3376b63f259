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
