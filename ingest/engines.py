"""Read query results from any target engine (the demo, tests and checks compare engines)."""

from __future__ import annotations

from ingest.settings import Settings


def fetch(target: str, settings: Settings, query: str, params: dict | None = None) -> list[tuple]:
    """All rows of `query` on `target`. Values go in `params` (%(name)s placeholders)."""
    if target == "postgres":
        from ingest.stack.postgres import connect

        with connect(settings) as conn:
            return [tuple(row) for row in conn.execute(query, params).fetchall()]
    if target == "clickhouse":
        from ingest.stack.clickhouse import client

        ch = client(settings)
        try:
            return [tuple(row) for row in ch.query(query, parameters=params).result_rows]
        finally:
            ch.close()
    raise ValueError(f"fetch is not available for target {target!r}")
