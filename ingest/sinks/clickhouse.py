"""ClickHouse sink: insert the batch into a scratch table, then swap its partition in atomically.

Landing tables are partitioned by `_batch_date`, so `REPLACE PARTITION` is the one atomic step
that makes a reload replace the day: readers see the old rows or the new ones, never both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date
from itertools import chain, islice

from ingest.landing import BATCH_COLUMNS, Table
from ingest.settings import Settings
from ingest.sinks import LineFormat, Row
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

# TabSeparated read like Postgres reads `COPY (format text, null '')`: an empty field is NULL.
TEXT_AS_POSTGRES = {
    "format_tsv_null_representation": "",
    "input_format_tsv_empty_as_default": 0,
    "input_format_tsv_detect_header": 0,
    "input_format_tsv_crlf_end_of_line": 0,
}
# A streamed insert writes a part every quarter million rows or so, while the rest still
# arrives, instead of all of a file's parts once the last line is in (the default squashes
# a million rows first). Merging the parts afterwards costs what merging the default's would.
STREAMED_INSERT = {"min_insert_block_size_rows": 262_144}

TYPES = {"text": "Nullable(String)", "int": "Int64", "timestamp": "DateTime64(3, 'UTC')"}


class ClickHouseSink:
    line_format = LineFormat(text=True, delimiter=b"\t", constants_in_lines=False)

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

    def replace_batch_lines(
        self,
        table: Table,
        batch_date: date,
        chunks: Iterable[bytes],
        aside: Callable[[], Iterable[bytes]],
        constants: Mapping[str, str],
    ) -> int:
        """Like replace_batch, from lines in `line_format` (see LineFormat).

        The lines hold no batch-wide values: the scratch table gets them as column defaults
        (`_batch_date` and `constants`), so ClickHouse parses each line's own values only. They
        are streamed as one HTTP `INSERT ... FORMAT TabSeparated` (an empty field NULL), then
        the aside lines, if any, as one `FORMAT CSV` insert read the way Postgres reads CSV.
        Returns the count the server reports.
        """
        columns = list(self.line_format.columns(table, constants))
        defaults = [(column, "String", value) for column, value in constants.items()]
        defaults.append((BATCH_COLUMNS[0], "Date", batch_date))

        def fill(scratch: Table) -> int:
            self.client.command(
                f"alter table {_name(scratch)} "
                + ", ".join(
                    f"modify column {quote(column)} default {{v{i}:{kind}}}"
                    for i, (column, kind, _) in enumerate(defaults)
                ),
                parameters={f"v{i}": value for i, (_, _, value) in enumerate(defaults)},
            )
            text = {**TEXT_AS_POSTGRES, **STREAMED_INSERT}
            count = self._insert(scratch, columns, chunks, "TabSeparated", text)
            return count + self._insert(scratch, columns, aside(), "CSV", CSV_AS_POSTGRES)

        return self._swap_in(table, batch_date, fill)

    def _insert(
        self, scratch: Table, columns: list[str], chunks: Iterable[bytes], fmt: str, settings: dict
    ) -> int:
        """Stream the bytes as one HTTP insert (none if there are none); the rows written."""
        iterator = iter(chunks)
        first = next(iterator, None)
        if first is None:
            return 0
        summary = self.client.raw_insert(
            _name(scratch),
            column_names=columns,
            insert_block=chain([first], iterator),
            settings=settings,
            fmt=fmt,
        )
        return int(summary.written_rows)

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

    def batch_dates(self, table: Table) -> set[date]:
        self.ensure_table(table)
        query = f"select distinct _batch_date from {_name(table)}"  # noqa: S608 - quoted
        return {row[0] for row in self.client.query(query).result_rows}

    def batch_rows(self, table: Table, batch_date: date, columns: Sequence[str]) -> list[tuple]:
        self.ensure_table(table)
        names = ", ".join(map(quote, columns))
        query = f"select {names} from {_name(table)} where _batch_date = {{day:Date}}"  # noqa: S608
        result = self.client.query(query, parameters={"day": batch_date})
        return [tuple(row) for row in result.result_rows]

    def close(self) -> None:
        self.client.close()
