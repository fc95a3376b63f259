"""What the benchmarks' naive baseline (pandas `to_sql` through SQLAlchemy) connects with."""

from __future__ import annotations

from ingest.settings import Settings


def sqlalchemy_url(settings: Settings, target: str) -> str:
    """A SQLAlchemy URL for `target`; ClickHouse tables of the baselines live in `bench`."""
    from sqlalchemy.engine import URL

    prefix = "PG" if target == "postgres" else "CH"
    return URL.create(
        "postgresql+psycopg2" if target == "postgres" else "clickhousedb",
        username=settings[f"DWH_{prefix}_USER"],
        password=settings[f"DWH_{prefix}_PASSWORD"],
        host=settings[f"DWH_{prefix}_HOST"],
        port=settings.port(f"DWH_{prefix}_PORT"),
        database=settings["DWH_PG_DATABASE"] if target == "postgres" else "bench",
    ).render_as_string(hide_password=False)
