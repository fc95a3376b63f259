"""The S3 sales loader: line checks (pure), then whole days on the real Postgres and ClickHouse.

Where injected dirt must end up:
- rejects (the loader): rows with a wrong number of fields (`short`, `long`), bad quoting
  (`quote`), an unknown status (`unknown_status`);
- landed as-is, for dbt staging: `duplicate` lines (same uniq_id), `whitespace` around values,
  `null` (empty) name fields; old-layout user_order_log lines land with status NULL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from ingest import pipeline, s3
from ingest.csvline import LineError, parse_line
from ingest.engines import fetch
from ingest.generators import sales
from ingest.landing import LOAD_LOG, S3_FILES, USER_ORDER_LOG
from ingest.loaders import s3 as loader
from ingest.sinks import connect
from ingest.sinks.clickhouse import ClickHouseSink
from ingest.sinks.postgres import PostgresSink, summarize_new
from ingest.stack import postgres

TARGETS = ["postgres", "clickhouse"]
CURRENT, OLD, REFUSED, LATE = date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3), date(2021, 3, 4)
TRICKY = date(2021, 3, 5)
WINDOW = [date(2021, 3, 10), date(2021, 3, 11), date(2021, 3, 12)]  # lookback_days 2
SCALE, DIRT = 0.1, 0.25
DAY = CURRENT
# reject reason (its prefix) for each kind of dirt the loader must refuse
REASONS = {
    "short": loader.REASON_FIELDS,
    "long": loader.REASON_FIELDS,
    "quote": loader.REASON_QUOTING,
    "unknown_status": loader.REASON_STATUS,
}
ORDERS_LAYOUT, OLD_ORDERS_LAYOUT = loader.LAYOUTS["user_order_log.csv"]


# --- pure: lines and headers ----------------------------------------------------------------------


def test_parse_line_keeps_null_apart_from_empty():
    assert parse_line('a,,"","x""y",') == ["a", None, "", 'x"y', None]
    assert parse_line('"a,b",c') == ["a,b", "c"]
    for bad in ('"open,x', 'a"b,c', '"a"b,c'):
        with pytest.raises(LineError, match=loader.REASON_QUOTING):
            parse_line(bad)


def test_plain_lines_pass_as_they_are_and_others_are_parsed():
    line = "1,u1,2022-10-01 10:00:00,1,Москва,7, Анна ,Петрова,101,Смартфон,1,10.00,shipped"
    assert loader.read_line(ORDERS_LAYOUT, line.encode()) is None
    quoted = loader.read_line(ORDERS_LAYOUT, line.replace(" Анна ", '"А,""нна"').encode())
    assert quoted == [*line.split(",")[:6], 'А,"нна', *line.split(",")[7:]]
    backslash = loader.read_line(ORDERS_LAYOUT, line.replace("Петрова", r"\N").encode())
    assert backslash[7] == r"\N"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"1,u,t,1,c,7,f,l,101,i,1,10.00", loader.REASON_FIELDS),
        (b"1,u,t,1,c,7,f,l,101,i,1,10,00,shipped", loader.REASON_FIELDS),
        (b'1,u,t,1,c,7,"f,l,101,i,1,10.00,shipped', loader.REASON_QUOTING),
        (b"1,u,t,1,c,7,f,l,101,i,1,10.00,delivered", loader.REASON_STATUS),
        (b'1,u,t,1,c,7,"f",l,101,i,1,10.00,Shipped', loader.REASON_STATUS),
        (b"1,u,t,1,c,7,\xff,l,101,i,1,10.00,shipped", loader.REASON_ENCODING),
        (b"1,u,t,1,c,7,f\x00,l,101,i,1,10.00,shipped", loader.REASON_NUL),
        (b"", loader.REASON_FIELDS),
    ],
)
def test_bad_lines_say_why(line, reason):
    with pytest.raises(LineError, match=f"^{reason}"):
        loader.read_line(ORDERS_LAYOUT, line)


def test_status_may_be_empty_or_padded_and_old_lines_get_a_null_status():
    base = "1,u,t,1,c,7,f,l,101,i,1,10.00"
    assert loader.read_line(ORDERS_LAYOUT, f"{base}, refunded ".encode()) is None
    assert loader.read_line(ORDERS_LAYOUT, f"{base},".encode()) is None
    old_header = ",".join(OLD_ORDERS_LAYOUT.columns).encode()
    reader = loader.FileReader(
        "user_order_log.csv", "s3://b/k", [old_header, b"\n", base.encode()], DAY
    )
    landed = parse_line(b"".join(reader).decode().rstrip("\n"))
    assert reader.layout == OLD_ORDERS_LAYOUT
    assert landed == [*base.split(","), None, "s3://b/k", "2", DAY.isoformat()]


def test_headers_current_old_and_wrong():
    uri = "s3://b/sales/2021-03-01/user_order_log.csv"
    current = ",".join(USER_ORDER_LOG.columns).encode()
    assert loader.match_header("user_order_log.csv", uri, b"\xef\xbb\xbf" + current + b"\r")
    old = current.replace(b",status", b"")
    assert loader.match_header("user_order_log.csv", uri, old) == OLD_ORDERS_LAYOUT
    with pytest.raises(ValueError, match="user_order_log.csv has header id,uniq,") as error:
        loader.match_header("user_order_log.csv", uri, current.replace(b"uniq_id", b"uniq"))
    assert isinstance(error.value, loader.HeaderError)
    assert current.decode() in str(error.value) and old.decode() in str(error.value)
    with pytest.raises(loader.HeaderError, match="is empty"):
        loader.match_header("price_log.csv", uri, None)


# Every kind of value a good line may hold; each must land as parse_line reads it, on every engine.
TRICKY_LINES = [
    "1,u1,t,1,Москва,7,Анна,Петрова,101,Смартфон,1,10.00,shipped",
    '2,u2,t,1,"Мос,ква",7,"А""нна",x,101,i,1,10.00,refunded',
    '3,u3,t,1,"",7,,x,101,i,1,10.00,',  # an empty string and NULLs
    "4,u4,t,1,c\\d,7,a\tb,\\N,101,i,1,10%,shipped",  # backslash, tab, a literal \N, %
    '5,u5,t,1,"a\rb",7,f,l,101,i,1,%d%s,shipped',  # CR inside quotes, % formats
    "6,u6,t,1,c,7,f,l,101,i,1,10.00,shipped\r",  # a CRLF line end
    "7,u7,t,1,c,7,f,l,101,i,1,10.00, refunded ",
    '8,u8,t,1,"",7,"",l,101,"x\\y",1,10.00,shipped',
]


def tricky_file() -> bytes:
    return (",".join(ORDERS_LAYOUT.columns) + "\n" + "\n".join(TRICKY_LINES) + "\n").encode()


def test_text_formats_pass_plain_lines_and_put_empty_strings_aside():
    """Postgres reads `format text` with ',' (lines as they are, metadata appended), ClickHouse
    TabSeparated without the batch-wide values; neither can hold '', so those lines go aside."""
    uri = "s3://b/k,1%"
    pg = loader.FileReader(
        "user_order_log.csv", uri, [tricky_file()], DAY, PostgresSink.line_format
    )
    lines = b"".join(pg).decode().split("\n")
    assert lines[0] == TRICKY_LINES[0] + f",s3://b/k\\,1%,2,{DAY}"
    assert (  # the line after the one put aside
        lines[2]
        == TRICKY_LINES[3].replace("\\", "\\\\").replace("\t", "\\t") + f",s3://b/k\\,1%,5,{DAY}"
    )
    ch = loader.FileReader(
        "user_order_log.csv", uri, [tricky_file()], DAY, ClickHouseSink.line_format
    )
    lines = b"".join(ch).decode().split("\n")
    assert lines[0] == TRICKY_LINES[0].replace(",", "\t") + "\t2"
    assert lines[1] == "\t".join(parse_line(TRICKY_LINES[1])) + "\t3"
    for reader, metadata in ((pg, [uri, "4", str(DAY)]), (ch, ["4"])):
        aside = b"".join(reader.aside.chunks()).decode().splitlines()
        assert reader.aside.count == len(aside) == 2 and reader.loaded == len(TRICKY_LINES)
        assert parse_line(aside[0]) == [*parse_line(TRICKY_LINES[2]), *metadata]


@pytest.mark.parametrize("chunk_size", [1, 997, 1 << 20])
def test_reader_sorts_every_line_whatever_the_chunking(chunk_size):
    files, manifest = sales.generate(CURRENT, scale=0.05, dirt_rate=0.3)
    data = files["user_order_log.csv"] + b"1,u,t,1,c,7,f,l,101,i,1,10.00,shipped"  # no final \n
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    reader = loader.FileReader("user_order_log.csv", "s3://b/k", chunks, CURRENT)
    out = b"".join(reader)
    assert out.count(b"\n") == reader.loaded
    expected_rejects = sum(manifest.dirt[f"user_order_log.csv:{k}"] for k in REASONS)
    assert reader.rejects.count == expected_rejects
    assert reader.loaded == manifest.counts["user_order_log.csv"] + 1 - expected_rejects
    last = parse_line(out.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode())
    assert last[-3:] == ["s3://b/k", str(data.count(b"\n") + 1), CURRENT.isoformat()]


def test_prefetch_keeps_order_raises_errors_and_stops_early():
    assert list(loader.prefetch(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]

    def failing():
        yield b"a"
        raise OSError("connection reset by S3")

    with pytest.raises(OSError, match="connection reset"):
        list(loader.prefetch(failing()))
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield b"x"

    before = threading.active_count()
    stream = loader.prefetch(endless(), depth=2)
    assert next(stream) == b"x"
    stream.close()
    assert threading.active_count() == before
    assert len(produced) <= 5  # bounded by the queue, not run to the end


# --- real servers ---------------------------------------------------------------------------------


def clear(settings, day: date) -> None:
    """Remove a test day from the landing on both engines and from the bucket."""
    for target in TARGETS:
        sink = connect(target, settings)
        try:
            for table in [*S3_FILES.values(), *(t.rejects for t in S3_FILES.values()), LOAD_LOG]:
                sink.replace_batch(table, day, [])
        finally:
            sink.close()
    client, bucket = s3.client(settings), settings["DWH_S3_BUCKET"]
    for obj in loader.list_day(client, bucket, s3.day_prefix(day, settings)):
        client.delete_object(Bucket=bucket, Key=obj["Key"])


@pytest.fixture(scope="module")
def published(dwh):
    manifests = {
        CURRENT: sales.publish_day(CURRENT, dwh, scale=SCALE, dirt_rate=DIRT, old_layout=False),
        OLD: sales.publish_day(OLD, dwh, scale=SCALE, dirt_rate=DIRT, old_layout=True),
    }
    for target in TARGETS:
        for day in manifests:
            loader.load_day(day, target, dwh)
    yield manifests
    for day in (CURRENT, OLD, REFUSED, LATE):
        clear(dwh, day)


def count(target, settings, table: str, day: date) -> int:
    query = f"select count(*) from {table} where _batch_date = %(day)s"  # noqa: S608 - constants
    return fetch(target, settings, query, {"day": day})[0][0]


def test_published_files_are_the_pure_generators_bytes(dwh, published):
    files, _ = sales.generate(CURRENT, scale=SCALE, dirt_rate=DIRT, old_layout=False)
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    for name, data in files.items():
        key = s3.day_prefix(CURRENT, dwh) + name
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data


@pytest.mark.parametrize("target", TARGETS)
def test_counts_equal_the_manifest(dwh, published, target):
    for day, manifest in published.items():
        for name, table in S3_FILES.items():
            rejected = sum(manifest.dirt[f"{name}:{kind}"] for kind in REASONS)
            assert count(target, dwh, table.qualified, day) == manifest.counts[name] - rejected
            assert count(target, dwh, table.rejects.qualified, day) == rejected


@pytest.mark.parametrize("target", TARGETS)
def test_rejected_dirt_has_the_right_reason_and_origin(dwh, published, target):
    manifest = published[CURRENT]
    for name, table in S3_FILES.items():
        expected = Counter()
        for kind, reason in REASONS.items():
            expected[reason] += manifest.dirt[f"{name}:{kind}"]
        found = fetch(
            target,
            dwh,
            f"select reason, raw, origin from {table.rejects.qualified}"  # noqa: S608
            " where _batch_date = %(day)s",
            {"day": CURRENT},
        )
        assert Counter(reason.split(":")[0].split(" '")[0] for reason, _, _ in found) == +expected
        lines = sales.generate(CURRENT, scale=SCALE, dirt_rate=DIRT, old_layout=False)[0][name]
        lines = lines.decode().split("\n")
        for _, raw, origin in found:
            uri, number = origin.rsplit("#", 1)
            assert uri == f"s3://{dwh['DWH_S3_BUCKET']}/{s3.day_prefix(CURRENT, dwh)}{name}"
            assert lines[int(number) - 1] == raw


@pytest.mark.parametrize("target", TARGETS)
def test_landed_dirt_is_kept_as_is_for_staging(dwh, published, target):
    manifest = published[CURRENT]
    landed = fetch(
        target,
        dwh,
        "select uniq_id, first_name, last_name, city_name, item_name, status"
        " from raw_s3.user_order_log where _batch_date = %(day)s",
        {"day": CURRENT},
    )
    names = [row[1:5] for row in landed]
    duplicates = len(landed) - len({row[0] for row in landed})
    assert duplicates == manifest.dirt["user_order_log.csv:duplicate"] > 0
    padded = sum(any(v is not None and v != v.strip() for v in row) for row in names)
    assert padded == manifest.dirt["user_order_log.csv:whitespace"] > 0
    nulls = sum(any(v is None for v in row) for row in names)
    assert nulls == manifest.dirt["user_order_log.csv:null"] > 0
    assert {row[5] for row in landed} == {"shipped", "refunded"}


@pytest.mark.parametrize("target", TARGETS)
def test_old_layout_lands_with_a_null_status(dwh, published, target):
    statuses = fetch(
        target,
        dwh,
        "select status, count(*) from raw_s3.user_order_log where _batch_date = %(day)s"
        " group by status",
        {"day": OLD},
    )
    assert len(statuses) == 1 and statuses[0][0] is None and statuses[0][1] > 0


def snapshot(target, settings, day: date) -> dict[str, list[tuple]]:
    tables = [*S3_FILES.values(), *(table.rejects for table in S3_FILES.values()), LOAD_LOG]
    found = {}
    for table in tables:
        columns = ", ".join(c for c in (*table.all_columns,) if c != "_loaded_at")
        query = f"select {columns} from {table.qualified} where _batch_date = %(day)s"  # noqa: S608
        found[table.qualified] = sorted(map(str, fetch(target, settings, query, {"day": day})))
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_a_second_run_changes_nothing(dwh, published, target):
    before = {day: snapshot(target, dwh, day) for day in published}
    sales.publish_day(CURRENT, dwh, scale=SCALE, dirt_rate=DIRT, old_layout=False)
    for day in published:
        loader.load_day(day, target, dwh)
    assert {day: snapshot(target, dwh, day) for day in published} == before
    assert len(before[CURRENT][LOAD_LOG.qualified]) == len(S3_FILES)


def load_big_order_log(sink: PostgresSink, day: date) -> tuple[int, int]:
    """The day's order log at scale 5: more than the BRIN's first range of 128 pages."""
    name = "user_order_log.csv"
    chunks = sales.render_file(name, day, scale=5)
    return loader.load_stream(name, f"test://{day}/{name}", chunks, day, sink)


def test_postgres_loads_leave_no_page_range_unsummarized(dwh):
    """A range the BRIN has not summarized matches every query: a load summarizes the ranges it
    fills (summarize_new) rather than leave the newest days to the next autovacuum. A day at
    scale 5 fills more than the first range of 128 pages, the one the index has from the start."""
    day, table = date(2021, 3, 5), USER_ORDER_LOG
    sink = PostgresSink(dwh)
    try:
        load_big_order_log(sink, day)
        with postgres.connect(dwh) as conn, conn.cursor() as cur:
            pages = cur.execute("select pg_relation_size(%s) / 8192", (table.qualified,))
            assert pages.fetchone()[0] > 128
            assert summarize_new(cur, table) == 0
    finally:
        sink.close()
        clear(dwh, day)


def test_postgres_loads_do_not_wait_for_a_vacuum_of_their_table(dwh):
    """VACUUM holds the table's SHARE UPDATE EXCLUSIVE lock. A load that waited for it (to create
    an index that exists, or to summarize) would cancel an autovacuum after deadlock_timeout: a
    backfill never let one finish. The load goes on without summarizing; the next one does."""
    day, table = date(2021, 3, 6), USER_ORDER_LOG
    sink = PostgresSink(dwh)
    try:
        sink.ensure_table(table)
        with ThreadPoolExecutor(1) as pool, postgres.connect(dwh) as vacuum:
            vacuum.execute(f"lock table {table.qualified} in share update exclusive mode")
            loaded, _ = pool.submit(load_big_order_log, sink, day).result(timeout=60)
        assert count("postgres", dwh, table.qualified, day) == loaded
        with postgres.connect(dwh) as conn, conn.cursor() as cur:
            assert summarize_new(cur, table) > 0  # what the load left
            conn.rollback()
        load_big_order_log(sink, day)
        with postgres.connect(dwh) as conn, conn.cursor() as cur:
            assert summarize_new(cur, table) == 0
    finally:
        sink.close()
        clear(dwh, day)


@pytest.mark.parametrize("target", TARGETS)
def test_reloading_a_changed_file_replaces_its_rows(dwh, published, target):
    """Ingest before generate, then generate, then a new delivery: each load replaces."""
    clear(dwh, LATE)
    assert loader.load_day(LATE, target, dwh) == []
    assert count(target, dwh, "raw_s3.user_order_log", LATE) == 0
    for seed in (1, 2):
        manifest = sales.publish_day(LATE, dwh, seed=seed, scale=0.05, dirt_rate=0)
        results = {r.table: r for r in loader.load_day(LATE, target, dwh)}
        for name, table in S3_FILES.items():
            assert results[table.qualified].loaded == manifest.counts[name]
            assert count(target, dwh, table.qualified, LATE) == manifest.counts[name]
    assert count(target, dwh, "raw_s3.user_order_log", CURRENT) > 0  # other days untouched


@pytest.mark.parametrize("target", TARGETS)
def test_a_wrong_header_refuses_the_file_and_loads_the_others(dwh, published, target):
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    prefix = s3.day_prefix(REFUSED, dwh)
    manifest = sales.publish_day(REFUSED, dwh, scale=0.05, dirt_rate=0, old_layout=False)
    loader.load_day(REFUSED, target, dwh)
    good_orders = count(target, dwh, "raw_s3.user_order_log", REFUSED)
    assert good_orders == manifest.counts["user_order_log.csv"]
    wrong = b"id,uniq_id,when,city\n1,u,2021-03-03 10:00:00,1\n"
    client.put_object(Bucket=bucket, Key=prefix + "user_order_log.csv", Body=wrong)
    client.put_object(Bucket=bucket, Key=prefix + "notes.txt", Body=b"not a sales file\n")
    with pytest.raises(loader.HeaderError) as error:
        loader.load_day(REFUSED, target, dwh)
    message = str(error.value)
    assert "user_order_log.csv has header id,uniq_id,when,city" in message
    assert ",".join(USER_ORDER_LOG.columns) in message and "Nothing was loaded" in message
    assert isinstance(error.value, ValueError)
    assert count(target, dwh, "raw_s3.user_order_log", REFUSED) == good_orders
    assert count(target, dwh, "raw_s3.price_log", REFUSED) == manifest.counts["price_log.csv"]
    log = fetch(
        target,
        dwh,
        "select file, status, error, rows_loaded from raw_s3.load_log"
        " where _batch_date = %(day)s order by file",
        {"day": REFUSED},
    )
    status = {file.rsplit("/", 1)[1]: (state, error) for file, state, error, _ in log}
    assert status["user_order_log.csv"][0] == "refused"
    assert "expected" in status["user_order_log.csv"][1]
    assert status["notes.txt"][0] == "skipped" and status["price_log.csv"] == ("loaded", None)


def logged(target, settings, day: date) -> list[tuple]:
    query = "select file, status, _loaded_at from raw_s3.load_log where _batch_date = %(day)s"
    return sorted(fetch(target, settings, query, {"day": day}))


@pytest.mark.parametrize("target", TARGETS)
def test_files_delivered_late_land_with_the_next_runs(dwh, target):
    """A day's ingest also loads the folders of its lookback days that changed since their load."""
    first, second, third = WINDOW
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    late_key = s3.day_prefix(first, dwh) + "user_order_log.csv"
    wrong_key = s3.day_prefix(second, dwh) + "price_log.csv"
    for day in WINDOW:
        clear(dwh, day)  # creates the landing tables, as earlier loads would have
    try:
        manifest = sales.publish_day(first, dwh, scale=0.05, dirt_rate=0, old_layout=False)
        late = client.get_object(Bucket=bucket, Key=late_key)["Body"].read()
        client.delete_object(Bucket=bucket, Key=late_key)  # not there yet at its day's run
        pipeline.ingest_s3(first, target, dwh)
        assert count(target, dwh, "raw_s3.user_order_log", first) == 0
        client.put_object(Bucket=bucket, Key=late_key, Body=late)
        sales.publish_day(second, dwh, scale=0.05, dirt_rate=0, old_layout=False)
        client.put_object(Bucket=bucket, Key=wrong_key, Body=b"id,when\n1,2021-03-11\n")
        with pytest.raises(loader.HeaderError):  # the next day's own folder holds a bad file
            pipeline.ingest_s3(second, target, dwh)
        orders = manifest.counts["user_order_log.csv"]
        assert count(target, dwh, "raw_s3.user_order_log", first) == orders
        before = {day: logged(target, dwh, day) for day in (first, second)}
        assert {status for _, status, _ in before[first]} == {"loaded"}
        sales.publish_day(third, dwh, scale=0.05, dirt_rate=0, old_layout=False)
        pipeline.ingest_s3(third, target, dwh)  # earlier folders as last loaded: not again
        assert {day: logged(target, dwh, day) for day in (first, second)} == before
        assert count(target, dwh, "raw_s3.user_order_log", third) > 0
    finally:
        for day in WINDOW:
            clear(dwh, day)


@pytest.mark.parametrize("target", TARGETS)
def test_every_kind_of_value_lands_exactly(dwh, target):
    day, bucket = TRICKY, dwh["DWH_S3_BUCKET"]
    key = s3.day_prefix(day, dwh) + "user_order_log.csv"
    s3.client(dwh).put_object(Bucket=bucket, Key=key, Body=tricky_file())
    try:
        [result] = loader.load_day(day, target, dwh)
        assert (result.loaded, result.rejected) == (len(TRICKY_LINES), 0)
        landed = fetch(
            target,
            dwh,
            f"select {', '.join(USER_ORDER_LOG.all_columns)} from raw_s3.user_order_log"  # noqa: S608
            " where _batch_date = %(day)s order by _line_number",
            {"day": day},
        )
        expected = [
            (*parse_line(line.removesuffix("\r")), f"s3://{bucket}/{key}", number, day)
            for number, line in enumerate(TRICKY_LINES, start=2)
        ]
        assert [tuple(row) for row in landed] == expected
    finally:
        clear(dwh, day)


def test_the_cli_loads_a_day_and_reports_a_refused_file(dwh, published):
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    sales.publish_day(REFUSED, dwh, scale=0.05, dirt_rate=0)
    command = [sys.executable, "-m", "ingest.cli", "ingest", "s3", "--target", "postgres"]
    ok = subprocess.run(
        [*command, "--date", REFUSED.isoformat()], capture_output=True, text=True, env=os.environ
    )
    assert ok.returncode == 0, ok.stderr
    assert "raw_s3.user_order_log:" in ok.stdout and "rows loaded" in ok.stdout
    wrong = b"id,uniq_id,when,city\n1,u,2021-03-03 10:00:00,1\n"
    client.put_object(Bucket=bucket, Key=s3.day_prefix(REFUSED, dwh) + "price_log.csv", Body=wrong)
    refused = subprocess.run(
        [*command, "--date", REFUSED.isoformat()], capture_output=True, text=True, env=os.environ
    )
    assert refused.returncode == 1
    assert "\ndwh: s3://" in refused.stderr and "price_log.csv has header id," in refused.stderr
    assert "expected date_time,category_id" in refused.stderr
