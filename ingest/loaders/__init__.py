"""Loaders: one source -> one sink, with a named transaction boundary (the batch)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from ingest.landing import Table
from ingest.settings import Settings
from ingest.sinks import Row, connect


@dataclass(frozen=True)
class LoadResult:
    table: str
    loaded: int
    rejected: int

    def __str__(self) -> str:
        return f"{self.table}: {self.loaded} rows loaded, {self.rejected} rejected"


class RefusedError(ValueError):
    """Input refused whole (a file with a wrong header, ...): nothing of it was loaded.

    The message names the input, says what was expected and what to do; the CLI prints it.
    """


@dataclass(frozen=True)
class Batch:
    """One table's rows for a day, split into the readable rows and the rejects."""

    table: Table
    rows: list[Row]
    rejects: list[Row]


def sort_out(
    table: Table,
    records: Iterable[Mapping[str, str | None]],
    problem: Callable[[Mapping[str, str | None]], str | None],
    origin: str,
) -> Batch:
    """Readable records become `table` rows; the others rejects (reason, raw JSON, origin#n).

    `problem` says why a record cannot be read (None when it can); `n` counts from 1 in the
    order the records came, so a reject points back at its place in the source.
    """
    rows: list[Row] = []
    rejects: list[Row] = []
    for number, record in enumerate(records, start=1):
        reason = problem(record)
        if reason is None:
            rows.append(tuple(record[column] for column in table.columns))
        else:
            raw = json.dumps(dict(record), ensure_ascii=False)
            rejects.append((reason, raw, f"{origin}#{number}"))
    return Batch(table, rows, rejects)


def land(target: str, settings: Settings, day: date, batches: Iterable[Batch]) -> list[LoadResult]:
    """Replace `day` in each batch's table and its rejects table, one sink for all of them."""
    results = []
    sink = connect(target, settings)
    try:
        for batch in batches:
            loaded = sink.replace_batch(batch.table, day, batch.rows)
            rejected = sink.replace_batch(batch.table.rejects, day, batch.rejects)
            results.append(LoadResult(batch.table.qualified, loaded, rejected))
    finally:
        sink.close()
    return results
