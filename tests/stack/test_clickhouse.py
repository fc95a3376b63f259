"""The chDB-based ClickHouse: a real server over HTTP and native TCP with a password login."""

from __future__ import annotations

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_driver import Client as NativeClient
from clickhouse_driver.errors import ServerException

from ingest.stack.clickhouse import ClickHouse, client


def native(settings, password: str | None = None) -> NativeClient:
    return NativeClient(
        "127.0.0.1",
        port=settings.port("DWH_CH_NATIVE_PORT"),
        user=settings["DWH_CH_USER"],
        password=settings["DWH_CH_PASSWORD"] if password is None else password,
    )


def listening_addresses(port: int) -> set[str]:
    """Addresses with a listening TCP socket on `port`, read from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    if len(address) == 8:  # IPv4, little-endian
                        found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                    else:
                        found.add(address)
    return found


def test_round_trip(dwh):
    ch = client(dwh)
    ch.command("create database if not exists stack_test")
    ch.command(
        "create or replace table stack_test.rt (id UInt32, name String) "
        "engine = MergeTree order by id"
    )
    ch.insert("stack_test.rt", [[1, "Цимлянск"], [2, "Ölfus"]], column_names=["id", "name"])
    assert ch.query("select id, name from stack_test.rt order by id").result_rows == [
        (1, "Цимлянск"),
        (2, "Ölfus"),
    ]
    assert ch.command("select currentUser()") == dwh["DWH_CH_USER"]


def test_native_port(dwh):
    conn = native(dwh)
    conn.execute("create database if not exists stack_test")
    conn.execute("create or replace table stack_test.nat (x Int64) engine = MergeTree order by x")
    conn.execute("insert into stack_test.nat (x) values", [(7,), (8,)])
    assert conn.execute("select sum(x) from stack_test.nat") == [(15,)]


def test_portable_sql_settings(dwh):
    rows = client(dwh).query(
        "select a.n, b.n from (select 1 as n union all select 2) as a "
        "left join (select 1 as n) as b on a.n = b.n order by a.n"
    )
    assert rows.result_rows == [(1, 1), (2, None)]  # join_use_nulls: no default 0 for misses


def test_data_survives_restart(dwh):
    ch = client(dwh)
    ch.command("create database if not exists stack_test")
    ch.command(
        "create or replace table stack_test.survivor (x Int32) engine = MergeTree order by x"
    )
    ch.command("insert into stack_test.survivor values (42)")
    service = ClickHouse(dwh)
    first_pid = service.pid()
    assert service.stop()
    assert service.pid() is None
    assert not (service.dir / "stop").exists(), "the server did not shut down cleanly"
    assert service.start()
    assert service.pid() not in (None, first_pid)
    assert client(dwh).query("select x from stack_test.survivor").result_rows == [(42,)]


def test_password_is_required(dwh):
    for password in ("wrong", ""):
        with pytest.raises(DatabaseError, match="Authentication failed"):
            clickhouse_connect.get_client(
                host="127.0.0.1",
                port=dwh.port("DWH_CH_PORT"),
                username=dwh["DWH_CH_USER"],
                password=password,
            )
        with pytest.raises(ServerException, match="Authentication failed"):
            native(dwh, password).execute("select 1")


def test_default_user_is_fenced(dwh):
    """chDB needs a passwordless `default`; it must not reach the project's data or create any."""
    ch = client(dwh)
    ch.command("create database if not exists stack_test")
    ch.command("create or replace table stack_test.secret (x Int8) engine = MergeTree order by x")
    ch.command("insert into stack_test.secret values (1)")
    anonymous = clickhouse_connect.get_client(host="127.0.0.1", port=dwh.port("DWH_CH_PORT"))
    for sql in (
        "select count() from stack_test.secret",
        "create table stack_test.intruder (x Int8) engine = Memory",
        "insert into stack_test.secret values (2)",
        "drop database stack_test",
    ):
        with pytest.raises(DatabaseError, match="ACCESS_DENIED|Not enough privileges"):
            anonymous.command(sql)


def test_listens_on_localhost_only(dwh):
    service = ClickHouse(dwh)
    for port in service.ports():
        assert listening_addresses(port) == {"127.0.0.1"}
    http, native_port = service.ports()
    assert service.describe() == f"http://127.0.0.1:{http} native 127.0.0.1:{native_port}"
