"""Loaders: one source -> one sink, with a named transaction boundary (the batch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    table: str
    loaded: int
    rejected: int

    def __str__(self) -> str:
        return f"{self.table}: {self.loaded} rows loaded, {self.rejected} rejected"
