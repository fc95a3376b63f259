"""The embedded Postgres: a real server over TCP with a password login."""

from __future__ import annotations

import psycopg
import pytest

from ingest.stack.postgres import Postgres, connect


def test_round_trip(dwh):
    with connect(dwh) as conn:
        conn.execute("create table if not exists rt (id int primary key, name text)")
        conn.execute("insert into rt values (%s, %s) on conflict do nothing", (1, "Цимлянск"))
        assert conn.execute("select name from rt where id = %s", (1,)).fetchone() == ("Цимлянск",)


def test_data_survives_restart(dwh):
    with connect(dwh) as conn:
        conn.execute("create table if not exists survivor (x int)")
        conn.execute("truncate survivor")
        conn.execute("insert into survivor values (42)")
    service = Postgres(dwh)
    first_pid = service.pid()
    assert service.stop()
    assert service.pid() is None
    assert service.start()
    assert service.pid() != first_pid
    with connect(dwh) as conn:
        assert conn.execute("select x from survivor").fetchall() == [(42,)]


def test_password_is_required(dwh):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=dwh["DWH_PG_PORT"],
            user=dwh["DWH_PG_USER"],
            password="wrong",
            dbname=dwh["DWH_PG_DATABASE"],
        )
