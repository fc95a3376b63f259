"""Benchmark: the S3 sales loader against the engines' own bulk paths and pandas `to_sql`.

    .venv/bin/python bench/bench_s3_load.py [--rows 1000000] [--naive-rows 100000]

Starts a private stack (Postgres, ClickHouse, S3) on free ports in a temporary DWH_HOME, makes a
`user_order_log.csv` of about `--rows` lines with the sales generator (no dirt, so every path can
load the same file), puts it in the bucket and measures, in the same run:
- the loader: `ingest.loaders.s3.load_day` (S3 GET streamed, every line checked, COPY / HTTP
  insert, rejects and load log included);
- the raw bulk path on the same CSV: `psql \\copy ... (format csv, header)` from a local file;
  ClickHouse `INSERT ... FORMAT CSVWithNames` of the file over HTTP; each into a plain table of
  the file's columns, and into a copy of the landing table (same metadata columns, indexes,
  partitioning; the metadata left empty), which is the engine's share of the loader's work;
- the naive way: pandas `read_csv` + `DataFrame.to_sql(if_exists="append")` through SQLAlchemy
  (psycopg2; clickhouse-connect's dialect), on the first `--naive-rows` lines.
Rates are rows per second; ratios are the loader's rate over the other's. Then the loader's peak
memory (peak RSS of a fresh process loading one file) for files of 1/4, 1/2 and all the rows.
Prints the figures; it checks that every row landed but never asserts a time (not a test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from naive import sqlalchemy_url  # bench/ is the script folder, first on sys.path

from ingest import s3
from ingest.engines import fetch
from ingest.generators import Manifest, sales
from ingest.landing import USER_ORDER_LOG
from ingest.loaders import s3 as loader
from ingest.settings import Settings
from ingest.sinks.clickhouse import CSV_AS_POSTGRES
from ingest.sinks.clickhouse import client as ch_client
from ingest.sinks.postgres import PostgresSink
from ingest.stack.postgres import bin_dir
from ingest.stack.postgres import connect as pg_connect
from ingest.stack.private import private_stack

NAME = "user_order_log.csv"
DAY = date(2030, 1, 1)
COLUMNS = USER_ORDER_LOG.columns


@dataclass
class Timing:
    what: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def timed(what: str, rows: int, action: Callable[[], object]) -> Timing:
    start = time.perf_counter()
    action()
    timing = Timing(what, rows, time.perf_counter() - start)
    print(f"  {what:<44} {rows:>9} rows {timing.seconds:7.2f} s {timing.rate:>11,.0f} rows/s")
    return timing


def make_file(rows: int, folder: Path, day: date) -> tuple[Path, int]:
    """A clean user_order_log of about `rows` lines on disk; (path, data lines)."""
    path = folder / f"{day}-{NAME}"
    manifest = Manifest(day)
    scale = rows / sales.order_lines(sales.DEFAULT_SEED, day, 1)  # the day's volume is ±15 %
    with open(path, "wb") as out:
        for chunk in sales.render_file(NAME, day, scale=scale, dirt_rate=0, manifest=manifest):
            out.write(chunk)
    return path, manifest.counts[NAME]


def upload(settings: Settings, path: Path, day: date) -> None:
    key = s3.day_prefix(day, settings) + NAME
    s3.client(settings).upload_file(str(path), settings["DWH_S3_BUCKET"], key)


# --- Postgres ---


def pg_execute(settings: Settings, *statements: str) -> None:
    with pg_connect(settings, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def pg_empty_landing(settings: Settings) -> None:
    sink = PostgresSink(settings)
    try:
        sink.ensure_table(USER_ORDER_LOG)
        sink.conn.execute("truncate raw_s3.user_order_log")
        sink.conn.commit()
    finally:
        sink.close()


def pg_plain_table(settings: Settings, name: str) -> None:
    columns = ", ".join(f'"{column}" text' for column in COLUMNS)
    pg_execute(
        settings,
        "create schema if not exists bench",
        f"drop table if exists bench.{name}",
        f"create table bench.{name} ({columns})",
    )


def psql_copy(settings: Settings, path: Path, table: str) -> None:
    columns = ", ".join(COLUMNS)
    command = f"\\copy {table} ({columns}) from '{path}' with (format csv, header true)"
    subprocess.run(
        [
            str(bin_dir() / "psql"),
            "--no-psqlrc",
            "--quiet",
            "-h",
            settings["DWH_PG_HOST"],
            "-p",
            settings["DWH_PG_PORT"],
            "-U",
            settings["DWH_PG_USER"],
            "-d",
            settings["DWH_PG_DATABASE"],
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            command,
        ],
        check=True,
        env={**os.environ, "PGPASSWORD": settings["DWH_PG_PASSWORD"]},
    )


def to_sql(engine_url: str, path: Path, rows: int, table: str, schema: str) -> None:
    import pandas as pd
    from sqlalchemy import create_engine

    frame = pd.read_csv(path, dtype=str, nrows=rows, keep_default_na=False)
    engine = create_engine(engine_url)
    try:
        frame.to_sql(table, engine, schema=schema, if_exists="append", index=False)
    finally:
        engine.dispose()


# --- ClickHouse ---


def ch_plain_table(settings: Settings, name: str) -> None:
    columns = ", ".join(f"`{column}` Nullable(String)" for column in COLUMNS)
    client = ch_client(settings)
    try:
        client.command("create database if not exists bench")
        client.command(f"drop table if exists bench.{name}")
        client.command(f"create table bench.{name} ({columns}) engine = MergeTree order by tuple()")
    finally:
        client.close()


def ch_http_insert(settings: Settings, path: Path, table: str) -> None:
    client = ch_client(settings)
    try:
        with open(path, "rb") as data:
            client.raw_insert(
                table, list(COLUMNS), data, settings=CSV_AS_POSTGRES, fmt="CSVWithNames"
            )
    finally:
        client.close()


# --- memory ---

CHILD = """
import sys, datetime
from ingest import settings, s3
from ingest.loaders.s3 import load_day
from ingest.sinks import clickhouse, postgres
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) // 1024
base = peak()
load_day(datetime.date.fromisoformat(sys.argv[1]), sys.argv[2], settings.load())
print(base, peak())
"""


def peak_memory(day: date, target: str) -> tuple[int, int]:
    """(MiB after imports, peak MiB) of a fresh process that loads the day into `target`."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, day.isoformat(), target],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    ).stdout.split()
    return int(out[0]), int(out[1])


# --- the run ---


def ratio(loader_timing: Timing, other: Timing | None) -> str:
    return f"{loader_timing.rate / other.rate:5.2f}x" if other else "  n/a"


def best_of(
    repeat: int, what: str, rows: int, action: Callable[[], object], prepare: Callable[[], object]
) -> Timing:
    best = None
    for _ in range(repeat):
        prepare()
        timing = timed(what, rows, action)
        best = timing if best is None or timing.rate > best.rate else best
    return best


def naive_or_none(what: str, rows: int, action: Callable[[], object]) -> Timing | None:
    try:
        return timed(what, rows, action)
    except Exception as error:  # a dialect may refuse; the run still reports the rest
        print(f"  {what} failed: {str(error).splitlines()[0]}")
        return None


def bench_postgres(settings: Settings, path: Path, lines: int, naive: int, repeat: int):
    print("postgres", flush=True)
    found = {
        "loader": best_of(
            repeat,
            "loader  load_day (COPY format text)",
            lines,
            lambda: _load("postgres", settings),
            lambda: pg_empty_landing(settings),
        ),
        "raw": best_of(
            repeat,
            "raw     psql \\copy -> plain table",
            lines,
            lambda: psql_copy(settings, path, "bench.pg_raw"),
            lambda: pg_plain_table(settings, "pg_raw"),
        ),
        "raw_landing": best_of(
            repeat,
            "raw     psql \\copy -> landing-shaped table",
            lines,
            lambda: psql_copy(settings, path, "bench.pg_landing"),
            lambda: pg_execute(
                settings,
                "drop table if exists bench.pg_landing",
                "create table bench.pg_landing (like raw_s3.user_order_log including all)",
                "alter table bench.pg_landing alter _batch_date set default '2030-01-01'",
            ),
        ),
    }
    pg_plain_table(settings, "pg_to_sql")
    found["naive"] = naive_or_none(
        "naive   pandas to_sql (psycopg2)",
        naive,
        lambda: to_sql(sqlalchemy_url(settings, "postgres"), path, naive, "pg_to_sql", "bench"),
    )
    landed = fetch("postgres", settings, "select count(*) from raw_s3.user_order_log")[0][0]
    assert landed == lines, landed
    return found


def bench_clickhouse(settings: Settings, path: Path, lines: int, naive: int, repeat: int):
    print("clickhouse", flush=True)

    def landing_copy() -> None:
        client = ch_client(settings)
        try:
            client.command("drop table if exists bench.ch_landing")
            client.command("create table bench.ch_landing as raw_s3.user_order_log")
        finally:
            client.close()

    found = {
        "loader": best_of(
            repeat,
            "loader  load_day (HTTP TSV insert)",
            lines,
            lambda: _load("clickhouse", settings),
            lambda: None,  # each load replaces the day's partition
        ),
        "raw": best_of(
            repeat,
            "raw     HTTP CSV insert -> plain table",
            lines,
            lambda: ch_http_insert(settings, path, "bench.ch_raw"),
            lambda: ch_plain_table(settings, "ch_raw"),
        ),
        "raw_landing": best_of(
            repeat,
            "raw     HTTP CSV insert -> landing-shaped",
            lines,
            lambda: ch_http_insert(settings, path, "bench.ch_landing"),
            landing_copy,
        ),
    }
    ch_plain_table(settings, "ch_to_sql")
    found["naive"] = naive_or_none(
        "naive   pandas to_sql (clickhouse-connect)",
        naive,
        lambda: to_sql(sqlalchemy_url(settings, "clickhouse"), path, naive, "ch_to_sql", "bench"),
    )
    landed = fetch("clickhouse", settings, "select count() from raw_s3.user_order_log")[0][0]
    assert landed == lines, landed
    return found


def bench_memory(settings: Settings, folder: Path, rows: int, lines: int) -> None:
    print("\nloader peak memory (a fresh process per load; RSS after imports -> peak RSS)")
    sizes = [(DAY, lines)]
    for share, offset in ((4, 1), (2, 2)):
        day = DAY + timedelta(days=offset)
        part, part_lines = make_file(rows // share, folder, day)
        upload(settings, part, day)
        part.unlink()
        sizes.insert(offset - 1, (day, part_lines))
    for day, part_lines in sizes:
        cells = []
        for target in ("postgres", "clickhouse"):
            base, peak = peak_memory(day, target)
            cells.append(f"{target} {base} -> {peak} MiB")
        print(f"  {part_lines:>9,} lines: " + "   ".join(cells))


def run(rows: int, naive_rows: int, repeat: int) -> None:
    with (
        private_stack(["postgres", "clickhouse", "s3"], prefix="dwh-bench-") as settings,
        tempfile.TemporaryDirectory(prefix="dwh-bench-files-") as tmp,
    ):
        folder = Path(tmp)
        folder.chmod(0o755)
        print(f"generating about {rows:,} order lines ...", flush=True)
        path, lines = make_file(rows, folder, DAY)
        print(f"  {path.name}: {lines:,} lines, {path.stat().st_size / 2**20:.0f} MiB")
        upload(settings, path, DAY)
        naive = min(naive_rows, lines)
        results = {
            "postgres": bench_postgres(settings, path, lines, naive, repeat),
            "clickhouse": bench_clickhouse(settings, path, lines, naive, repeat),
        }
        print("\nratios: loader rate / other rate (targets: >= 0.8x raw, >= 10x to_sql)")
        for target, found in results.items():
            loader_rate = found["loader"]
            print(
                f"  {target:<11} raw, plain table {ratio(loader_rate, found['raw'])}"
                f"   raw, landing-shaped {ratio(loader_rate, found['raw_landing'])}"
                f"   to_sql {ratio(loader_rate, found['naive'])}"
            )
        bench_memory(settings, folder, rows, lines)


def _load(target: str, settings: Settings) -> None:
    results = loader.load_day(DAY, target, settings)
    assert results and results[0].rejected == 0, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the fast paths")
    args = parser.parse_args()
    run(args.rows, args.naive_rows, args.repeat)


if __name__ == "__main__":
    main()
