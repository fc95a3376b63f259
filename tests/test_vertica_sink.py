"""The Vertica sink: the statements and the COPY stream it builds (pure), then a real server.

There is no Vertica in the local stack: the integration test runs wherever DWH_VERTICA_HOST
points at one (e.g. docker-compose's `vertica` profile) and is skipped otherwise.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest

from ingest import orchestration
from ingest import settings as settings_module
from ingest.csvline import format_line, parse_line
from ingest.generators import sales
from ingest.landing import LOAD_LOG, PRICE_LOG, S3_FILES
from ingest.loaders import s3 as loader
from ingest.sinks import vertica

DAY = date(2021, 3, 1)


def test_tables_are_partitioned_by_batch_with_wide_text_columns():
    schema, table = vertica.create_statements(LOAD_LOG)
    assert schema == 'create schema if not exists "raw_s3"'
    assert table.startswith('create table if not exists "raw_s3"."load_log" ("file" varchar(65000)')
    assert '"rows_loaded" int' in table and '"_batch_date" date not null' in table
    assert table.endswith('partition by "_batch_date"')


def test_a_batch_is_read_with_quoted_columns_and_a_bound_date():
    assert vertica.rows_statement(LOAD_LOG, ("file", "size", "etag")) == (
        'select "file", "size", "etag" from "raw_s3"."load_log" where "_batch_date" = %s'
    )


def test_delete_and_copy_share_one_transaction():
    assert vertica.delete_statement(PRICE_LOG) == (
        'delete from "raw_s3"."price_log" where "_batch_date" = %s'
    )
    copy = vertica.copy_statement(PRICE_LOG)
    columns = ", ".join(f'"{column}"' for column in PRICE_LOG.all_columns)
    assert copy.startswith(f'copy "raw_s3"."price_log" ({columns}) from stdin')
    assert copy.endswith("abort on error no commit")  # COPY commits by itself otherwise
    assert "enclosed by '\"'" in copy and "null ''" in copy


def test_identifiers_are_quoted():
    assert vertica.quote('we"ird') == '"we""ird"'


def test_rows_become_an_escaped_stream():
    rows = [("a,b", None, 'say "hi"', "back\\slash", "two\nlines", "", 7)]
    stream = b"".join(vertica.encode_rows(rows, DAY)).decode()
    assert stream == ('"a,b",,"say \\"hi\\"","back\\\\slash","two\\\nlines","",7,"2021-03-01"\n')


def test_csv_becomes_the_same_stream_across_chunk_boundaries():
    plain = "1,Москва, padded ,,s3://b/k,2,2021-03-01\n"
    quoted = format_line(["x", 'q"uote', "", None, "back\\slash"]) + "\n"
    data = (plain + quoted + plain).encode()
    for size in (1, 5, len(data)):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        out = b"".join(vertica.csv_to_stream(chunks)).decode()
        assert out == plain + '"x","q\\"uote","",,"back\\\\slash"\n' + plain


def test_timestamps_and_numbers_are_written_as_vertica_reads_them():
    moment = datetime(2021, 3, 1, 12, 30, tzinfo=UTC)
    assert vertica.encode_value(moment) == '"2021-03-01 12:30:00+00:00"'
    assert vertica.encode_value(DAY) == '"2021-03-01"'
    assert vertica.encode_value(42) == "42" and vertica.encode_value(None) == ""


def test_chunk_reader_reads_what_copy_asks_for():
    reader = vertica.ChunkReader([b"abc", b"", b"defg"])
    assert reader.read(2) == b"ab"
    assert b"".join(iter(lambda: reader.read(2), b"")) == b"cdefg"
    assert reader.read(2) == b""


def test_the_loaders_stream_for_vertica_keeps_every_value():
    """What the S3 loader hands the sink, turned into Vertica's stream and parsed back."""
    files, _ = sales.generate(DAY, scale=0.05, dirt_rate=0.3, old_layout=False)
    reader = loader.FileReader("user_order_log.csv", "s3://b/k", [files["user_order_log.csv"]], DAY)
    csv_lines = b"".join(reader).decode().splitlines()
    stream = b"".join(vertica.csv_to_stream([(line + "\n").encode() for line in csv_lines]))
    assert stream.decode().splitlines() == [
        line
        if '"' not in line and "\\" not in line
        else ",".join(map(vertica.encode_value, parse_line(line)))
        for line in csv_lines
    ]


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A local port that accepts connections and never answers: a Vertica that hangs.

    The kernel completes the TCP handshake for the backlog; nothing ever reads or writes. Closing
    the listener resets the connections still queued, so a client left waiting is let go.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()


def test_the_preflight_probe_gives_up_on_a_vertica_that_never_answers(tmp_path):
    """Without a connect timeout, vertica-python waits for the server's first byte forever.

    The probe runs in a thread: when it is still waiting after a bound far above its timeout,
    the test fails, and closing the server then lets the thread go (the test cannot hang).
    """
    errors: list[BaseException] = []

    def probe(settings: settings_module.Settings) -> None:
        try:
            orchestration.TARGET_PROBES["vertica"].check(settings)
        except Exception as error:
            errors.append(error)

    with silent_server() as (host, port):
        settings = settings_module.load(
            {"DWH_HOME": str(tmp_path), "DWH_VERTICA_HOST": host, "DWH_VERTICA_PORT": str(port)}
        )
        worker = threading.Thread(target=probe, args=(settings,), daemon=True)
        worker.start()
        worker.join(orchestration.PROBE_TIMEOUT + 30)  # generous: only a probe that hangs fails
        waiting = worker.is_alive()
    worker.join(10)
    assert not waiting, "the probe was still waiting: its timeout did not reach vertica-python"
    assert len(errors) == 1 and isinstance(errors[0], TimeoutError), errors


@pytest.fixture(scope="module")
def vertica_settings():
    if not os.environ.get("DWH_VERTICA_HOST"):
        pytest.skip("DWH_VERTICA_HOST is not set: no Vertica server to test against")
    return settings_module.load()


def test_loads_and_reloads_a_day_on_a_real_vertica(vertica_settings):
    files, manifest = sales.generate(DAY, scale=0.05, dirt_rate=0.2, old_layout=False)
    sink = vertica.VerticaSink(vertica_settings)
    try:
        for _ in range(2):  # the second load replaces the first
            for name, data in files.items():
                uri = f"s3://test/{name}"
                loaded, rejected = loader.load_stream(name, uri, [data], DAY, sink)
                assert loaded + rejected == manifest.counts[name]
        sink.replace_batch(LOAD_LOG, DAY, [("k", None, "", "loaded", 'a "b"', 1, 2, 3)])
        with sink.conn.cursor() as cur:
            for name, table in S3_FILES.items():
                rejected = sum(manifest.dirt[f"{name}:{k}"] for k in sales.REJECTED_KINDS)
                cur.execute(
                    f"select count(*) from {vertica.qualified(table)} where _batch_date = %s",  # noqa: S608
                    (DAY,),
                )
                assert cur.fetchone()[0] == manifest.counts[name] - rejected
            cur.execute(
                'select "table_name", "etag", "error", "rows_loaded" from "raw_s3"."load_log"'
                " where _batch_date = %s",
                (DAY,),
            )
            assert cur.fetchall() == [[None, "", 'a "b"', 2]]
    finally:
        sink.close()
