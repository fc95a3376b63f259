"""Vertica sink: `DELETE` the batch and `COPY ... FROM STDIN ... NO COMMIT` in one transaction.

Vertica's COPY commits by itself unless told `NO COMMIT`; with it, the delete and the load
commit together, so readers see the old batch or the new one. Landing tables are partitioned by
`_batch_date` (DROP_PARTITIONS would be faster than DELETE but commits on its own).

The stream uses Vertica's default DELIMITED parser, not a CSV parser (fcsvparser does not take
multibyte data): `DELIMITER ','`, values `ENCLOSED BY '"'`, the default backslash escape, NULL as
an empty unenclosed field. Every non-NULL value is enclosed, with `\\`, `"`, CR and LF escaped.
Statements and streams are built by pure functions, unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from itertools import chain, islice
from typing import Any

from ingest.csvline import parse_line
from ingest.landing import Table
from ingest.settings import Settings
from ingest.sinks import CSV_LINES, Row

TYPES = {"text": "varchar(65000)", "int": "int", "timestamp": "timestamptz"}
BLOCK_ROWS = 10_000
BUFFER_BYTES = 1 << 20


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: Table) -> str:
    return f"{quote(table.schema)}.{quote(table.name)}"


def create_statements(table: Table) -> list[str]:
    typed = [(column, "text") for column in table.columns] + list(table.meta)
    columns = ", ".join(f"{quote(column)} {TYPES[kind]}" for column, kind in typed)
    return [
        f"create schema if not exists {quote(table.schema)}",
        f"create table if not exists {qualified(table)} ({columns},"
        ' "_batch_date" date not null, "_loaded_at" timestamptz not null default now())'
        ' partition by "_batch_date"',
    ]


def delete_statement(table: Table) -> str:
    """Delete one batch; the date is a bind parameter."""
    return f'delete from {qualified(table)} where "_batch_date" = %s'  # noqa: S608 - quoted


def rows_statement(table: Table, columns: Sequence[str]) -> str:
    """Read `columns` of one batch; the date is a bind parameter."""
    names = ", ".join(map(quote, columns))
    return f'select {names} from {qualified(table)} where "_batch_date" = %s'  # noqa: S608


def copy_statement(table: Table) -> str:
    columns = ", ".join(map(quote, table.all_columns))
    return (
        f"copy {qualified(table)} ({columns}) from stdin"
        " delimiter ',' enclosed by '\"' null '' record terminator E'\\n'"
        " abort on error no commit"
    )


def encode_value(value: Any) -> str:
    """One field of the stream: NULL as nothing, anything else enclosed and escaped."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # numbers need no enclosing, and int columns take them as they are
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    for special in ("\\", '"', "\r", "\n"):
        text = text.replace(special, "\\" + special)
    return f'"{text}"'


def encode_rows(rows: Iterable[Row], batch_date: date) -> Iterator[bytes]:
    """The COPY stream of `rows` plus `_batch_date`, in blocks of lines."""
    iterator = iter(rows)
    while block := list(islice(iterator, BLOCK_ROWS)):
        yield "".join(
            ",".join(encode_value(value) for value in (*row, batch_date)) + "\n" for row in block
        ).encode()


def csv_to_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """CSV lines (see ingest.sinks.LineFormat) as the COPY stream.

    A line without quotes or backslashes means the same to both parsers and passes as is; any
    other line is parsed and re-encoded. Chunks may split lines anywhere.
    """
    rest = b""
    for chunk in chunks:
        block = rest + chunk
        cut = block.rfind(b"\n") + 1
        block, rest = block[:cut], block[cut:]
        if b'"' not in block and b"\\" not in block:
            if block:
                yield block
            continue
        yield b"".join(_reencode(line) for line in block.split(b"\n")[:-1])
    if rest:
        yield _reencode(rest)


def _reencode(line: bytes) -> bytes:
    if b'"' in line or b"\\" in line:
        line = ",".join(map(encode_value, parse_line(line.decode()))).encode()
    return line + b"\n"


def _later(lines: Callable[[], Iterable[bytes]]) -> Iterator[bytes]:
    yield from lines()


class ChunkReader:
    """A file-like `read()` over an iterator of byte blocks: what `cursor.copy` consumes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = b""
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._chunk, self._pos = chunk, 0
        end = len(self._chunk) if size is None or size < 0 else self._pos + size
        data = self._chunk[self._pos : end]
        self._pos += len(data)
        return data


def connect(settings: Settings, timeout: float | None = None):
    """A vertica-python connection (autocommit off) to `DWH_VERTICA_*`.

    `timeout` (seconds) bounds every wait on the server for the connection's whole life, not only
    the connect: vertica-python sets its `connection_timeout` on the socket and never clears it.
    The preflight probe passes its short one, so a server that does not answer fails it in
    seconds rather than after the system's TCP timeout (minutes). Loads pass none: a DELETE or
    COPY of a large batch may keep the server silent longer than any timeout fit for a probe.
    """
    import vertica_python

    if not settings["DWH_VERTICA_HOST"]:
        raise ValueError("DWH_VERTICA_HOST is not set: there is no Vertica to load into")
    return vertica_python.connect(
        host=settings["DWH_VERTICA_HOST"],
        port=settings.port("DWH_VERTICA_PORT"),
        user=settings["DWH_VERTICA_USER"],
        password=settings["DWH_VERTICA_PASSWORD"],
        database=settings["DWH_VERTICA_DATABASE"],
        autocommit=False,
        connection_timeout=timeout,
    )


class VerticaSink:
    line_format = CSV_LINES

    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings)

    def ensure_table(self, table: Table) -> None:
        with self.conn.cursor() as cur:
            for statement in create_statements(table):
                cur.execute(statement)
        self.conn.commit()

    def _replace(self, table: Table, batch_date: date, stream: Iterable[bytes]) -> int:
        self.ensure_table(table)
        try:
            with self.conn.cursor() as cur:
                cur.execute(delete_statement(table), (batch_date,))
                cur.copy(copy_statement(table), ChunkReader(stream), buffer_size=BUFFER_BYTES)
                cur.execute("select get_num_accepted_rows()")
                count = int(cur.fetchone()[0])
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return count

    def replace_batch(self, table: Table, batch_date: date, rows: Iterable[Row]) -> int:
        return self._replace(table, batch_date, encode_rows(rows, batch_date))

    def replace_batch_lines(
        self,
        table: Table,
        batch_date: date,
        chunks: Iterable[bytes],
        aside: Callable[[], Iterable[bytes]],
        constants: Mapping[str, str],
    ) -> int:
        """Like replace_batch, from csv lines (nothing is ever aside for csv)."""
        return self._replace(table, batch_date, csv_to_stream(chain(chunks, _later(aside))))

    def batch_dates(self, table: Table) -> set[date]:
        self.ensure_table(table)
        with self.conn.cursor() as cur:
            cur.execute(f'select distinct "_batch_date" from {qualified(table)}')  # noqa: S608
            return {row[0] for row in cur.fetchall()}

    def batch_rows(self, table: Table, batch_date: date, columns: Sequence[str]) -> list[tuple]:
        self.ensure_table(table)
        with self.conn.cursor() as cur:
            cur.execute(rows_statement(table, columns), (batch_date,))
            return [tuple(row) for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
