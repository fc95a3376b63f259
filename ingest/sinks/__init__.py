"""Sinks write batches of landing rows to one engine through its bulk path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from ingest.landing import BATCH_COLUMNS, Table
from ingest.settings import Settings

Row = tuple[str | None, ...]
TARGETS = ("postgres", "clickhouse", "vertica")


@dataclass(frozen=True)
class LineFormat:
    """The lines `Sink.replace_batch_lines` takes: the form its engine's bulk path reads fastest.

    csv (`text` False): RFC 4180, '\\n' line ends; an empty unquoted field is NULL, a quoted ""
    an empty string.
    text: fields split by `delimiter`, an empty field is NULL, backslash escapes (`\\\\`, `\\n`,
    `\\r`, `\\t`, and a backslash before the delimiter): Postgres `COPY (format text, null '')`,
    ClickHouse TabSeparated with an empty NULL. Parsed with less work than CSV, and a CSV line
    without quotes, backslashes, CR or tabs is already such a line with ',' as delimiter. An empty
    string has no spelling in it: a line holding one comes, as csv, in the `aside` stream.
    constants_in_lines: False when the sink fills the batch-wide metadata (`_batch_date` and the
    `constants`) itself, so that each line carries only its own values.
    """

    text: bool
    delimiter: bytes = b","
    constants_in_lines: bool = True

    def columns(self, table: Table, constants: Iterable[str]) -> tuple[str, ...]:
        """The columns each line holds, in order."""
        if self.constants_in_lines:
            return table.all_columns
        left_out = {*constants, BATCH_COLUMNS[0]}
        return tuple(column for column in table.all_columns if column not in left_out)


CSV_LINES = LineFormat(text=False)


class Sink(Protocol):
    line_format: LineFormat

    def replace_batch(self, table: Table, batch_date: date, rows: Iterable[Row]) -> int:
        """Atomically replace the rows of `batch_date` in `table` with `rows`; return the count.

        Creates the schema and table first if needed. Readers see the old batch or the new one,
        never a mix or nothing.
        """
        ...

    def replace_batch_lines(
        self,
        table: Table,
        batch_date: date,
        chunks: Iterable[bytes],
        aside: Callable[[], Iterable[bytes]],
        constants: Mapping[str, str],
    ) -> int:
        """Like replace_batch, from lines in `line_format`: the same atomic replacement of the day.

        `chunks`: UTF-8 lines holding `line_format.columns(table, constants)`; `aside()`, asked
        for once `chunks` is exhausted: csv lines of the same columns that the text format cannot
        hold; `constants`: metadata column -> its value for every line of the batch.
        For loaders that already hold lines of text (ingest/loaders/s3.py): they go to the
        engine's bulk path without becoming Python rows. Returns the row count the engine reports.
        """
        ...

    def batch_dates(self, table: Table) -> set[date]:
        """The days `table` holds a batch of (creating it first if needed: then none)."""
        ...

    def batch_rows(self, table: Table, batch_date: date, columns: Sequence[str]) -> list[tuple]:
        """`columns` of the rows of `batch_date` in `table` (created first if needed)."""
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
