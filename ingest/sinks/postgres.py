"""Postgres sink: `COPY FROM STDIN` inside the transaction that deletes the old batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from psycopg import sql

from ingest.landing import Table
from ingest.settings import Settings
from ingest.sinks import Row
from ingest.stack.postgres import connect


def _name(table: Table) -> sql.Composed:
    return sql.Identifier(table.schema, table.name)


TYPES = {"text": "text", "int": "bigint", "timestamp": "timestamptz"}


class PostgresSink:
    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings)

    def ensure_table(self, table: Table) -> None:
        typed = [(column, "text") for column in table.columns] + list(table.meta)
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(TYPES[kind]))
            for column, kind in typed
        )
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("create schema if not exists {}").format(sql.Identifier(table.schema))
            )
            self.conn.execute(
                sql.SQL(
                    "create table if not exists {} ({}, _batch_date date not null,"
                    " _loaded_at timestamptz not null default now())"
                ).format(_name(table), columns)
            )
            self.conn.execute(
                sql.SQL("create index if not exists {} on {} (_batch_date)").format(
                    sql.Identifier(f"{table.name}__batch_date"), _name(table)
                )
            )

    def replace_batch(self, table: Table, batch_date: date, rows: Iterable[Row]) -> int:
        self.ensure_table(table)
        copy = sql.SQL("copy {} ({}) from stdin").format(
            _name(table),
            sql.SQL(", ").join(map(sql.Identifier, table.all_columns)),
        )
        count = 0
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("delete from {} where _batch_date = %s").format(_name(table)), (batch_date,)
            )
            with cur.copy(copy) as out:
                for row in rows:
                    out.write_row((*row, batch_date))
                    count += 1
        return count

    def replace_batch_csv(self, table: Table, batch_date: date, chunks: Iterable[bytes]) -> int:
        """Like replace_batch, from CSV bytes holding every column of `table.all_columns`.

        The bytes go to `COPY ... (format csv)` untouched: an empty unquoted field is NULL, a
        quoted empty one an empty string. Returns the count the server reports.
        """
        self.ensure_table(table)
        copy = sql.SQL("copy {} ({}) from stdin (format csv)").format(
            _name(table),
            sql.SQL(", ").join(map(sql.Identifier, table.all_columns)),
        )
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("delete from {} where _batch_date = %s").format(_name(table)), (batch_date,)
            )
            with cur.copy(copy) as out:
                for chunk in chunks:
                    out.write(chunk)
            return cur.rowcount

    def close(self) -> None:
        self.conn.close()
