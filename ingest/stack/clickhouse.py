"""ClickHouse 26.9 from the chdb-core wheel: HTTP and native TCP on 127.0.0.1, password login.

The server runs through our `clickhouse_server` entry point (see there why a query that never
ends is what keeps the ports open). Its folder holds `config.xml` and `users.xml`, rewritten at
every start from the settings, and `data/`, ClickHouse's own path, which survives restarts.

Users. The project's user (`DWH_CH_USER`) logs in with a password, stored as a SHA-256 hash, and
holds every privilege but the FILE source: dbt-clickhouse needs DDL and EXCHANGE TABLES. chDB's
own session always logs in as `default`, passwordless, from an address ClickHouse deems local, as
it does 127.0.0.1; so `default` stays, able only to do what that session needs (SYSTEM LISTEN,
read system.numbers). One gap remains: in chDB's local mode `file()` reads any path the process
can, for any user. So when we are root the server runs unprivileged; still, keep this stack off
machines shared with untrusted users (docker-compose runs a stock server).

The `default` database is chDB's Overlay, which resolves unknown table names as file paths (and
says they all exist): models belong in a database of their own.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import socket
import sys
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from ingest.settings import REPO_ROOT, Settings
from ingest.stack.process import Service, StackError

HOST = "127.0.0.1"
# The same account the embedded Postgres runs as when we are root.
UNPRIVILEGED_USER = "nobody"
# Half the machine's memory, at least 4 GiB. A full build ranks every landed line of history,
# several staging models at a time; their sorts spill to disk past 256 MB (profiles.yml).
MEMORY_LIMIT = max(4 << 30, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
MARK_CACHE = 256 << 20

# Settings of the project's user. join_use_nulls: outer joins give NULL for missing rows, as in
# Postgres and Vertica. union_default_mode: a bare UNION means UNION DISTINCT. The rest undo chDB's
# embedded-friendly defaults so that behaviour matches a stock ClickHouse server (docker-compose).
USER_SETTINGS = {
    "join_use_nulls": "1",
    "union_default_mode": "DISTINCT",
    "async_insert": "0",
    "date_time_input_format": "basic",
    # How often an idle native connection checks for shutdown (default 10 s); with the HTTP
    # keep_alive_timeout below, this lets SIGTERM end the server cleanly within a few seconds.
    "poll_interval": "1",
}

# keep_alive_timeout: an idle HTTP connection holds up a clean shutdown until it expires (after
# 5 s chDB gives up and exits at once); 3 s was ClickHouse's default for years.
CONFIG_XML = """<clickhouse>
    <listen_host>{host}</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <users_config>{users}</users_config>
    <user_files_path>{user_files}/</user_files_path>
    <timezone>UTC</timezone>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_server_memory_usage>{memory}</max_server_memory_usage>
    <mark_cache_size>{mark_cache}</mark_cache_size>
    <index_mark_cache_size>{small_cache}</index_mark_cache_size>
    <primary_index_cache_size>{small_cache}</primary_index_cache_size>
    <access_control_improvements>
        <select_from_system_db_requires_grant>true</select_from_system_db_requires_grant>
        <select_from_information_schema_requires_grant>true</select_from_information_schema_requires_grant>
    </access_control_improvements>
</clickhouse>
"""

USERS_XML = """<clickhouse>
    <profiles>
        <default/>
        <{user}>
{settings}
        </{user}>
    </profiles>
    <users>
        <default>
            <no_password/>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <grants>
                <query>GRANT SYSTEM LISTEN ON *.*</query>
                <query>GRANT SELECT ON system.numbers</query>
            </grants>
        </default>
        <{user}>
            <password_sha256_hex>{password_sha256}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>{user}</profile>
            <quota>default</quota>
            <grants>
                <query>GRANT ALL ON *.*</query>
                <query>REVOKE FILE ON *.*</query>
            </grants>
        </{user}>
    </users>
    <quotas><default/></quotas>
</clickhouse>
"""


def client(settings: Settings, **kwargs: Any) -> Client:
    """A clickhouse-connect (HTTP) client for the configured ClickHouse, as the project's user."""
    return clickhouse_connect.get_client(
        host=settings["DWH_CH_HOST"],
        port=settings.port("DWH_CH_PORT"),
        username=settings["DWH_CH_USER"],
        password=settings["DWH_CH_PASSWORD"],
        **kwargs,
    )


class ClickHouse(Service):
    """chDB's ClickHouse server with its data in `data/`; SIGTERM stops it cleanly in 1-3 s."""

    name = "clickhouse"
    start_timeout = 60.0

    def ports(self) -> list[int]:
        return [self.settings.port("DWH_CH_PORT"), self.settings.port("DWH_CH_NATIVE_PORT")]

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _write(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        self._own(path)

    def _own(self, path: Path) -> None:
        if self._as_root():
            account = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def prepare(self) -> None:
        user = self.settings["DWH_CH_USER"]
        if user == "default" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", user):
            raise StackError(f"clickhouse: DWH_CH_USER={user!r}: use a plain name, not 'default'")
        user_files = self.data_dir / "user_files"
        user_files.mkdir(parents=True, exist_ok=True)
        for path in (self.dir, self.data_dir, user_files):
            self._own(path)
        users = self.dir / "users.xml"
        password = self.settings["DWH_CH_PASSWORD"].encode()
        settings = "\n".join(f"            <{k}>{v}</{k}>" for k, v in USER_SETTINGS.items())
        self._write(
            users,
            USERS_XML.format(
                user=user, settings=settings, password_sha256=hashlib.sha256(password).hexdigest()
            ),
        )
        self._write(
            self.dir / "config.xml",
            CONFIG_XML.format(
                host=HOST,
                http_port=self.settings.port("DWH_CH_PORT"),
                tcp_port=self.settings.port("DWH_CH_NATIVE_PORT"),
                users=users,
                user_files=user_files,
                memory=MEMORY_LIMIT,
                mark_cache=MARK_CACHE,
                small_cache=MARK_CACHE // 4,
            ),
        )

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "ingest.stack.clickhouse_server"]
        command += ["--config-dir", str(self.dir), "--data-dir", str(self.data_dir)]
        return command + (["--user", UNPRIVILEGED_USER] if self._as_root() else [])

    def popen_kwargs(self) -> dict:
        # `-m` must find this checkout's `ingest` even if the package is not installed.
        return {"cwd": REPO_ROOT}

    def healthy(self) -> bool:
        # A plain connect first: clickhouse-connect logs an error for every refused connection.
        try:
            socket.create_connection((HOST, self.settings.port("DWH_CH_PORT")), timeout=1).close()
        except OSError:
            return False
        try:
            probe = clickhouse_connect.get_client(
                host=HOST,
                port=self.settings.port("DWH_CH_PORT"),
                username=self.settings["DWH_CH_USER"],
                password=self.settings["DWH_CH_PASSWORD"],
                connect_timeout=1,
                send_receive_timeout=5,
                # Its own pool, closed below: an idle keep-alive connection delays a clean stop.
                dedicated_pool=True,
            )
        except Exception:
            return False
        try:
            return probe.command("SELECT 1") == 1
        except Exception:
            return False
        finally:
            probe.close()

    def describe(self) -> str:
        http, native = self.ports()
        return f"http://{HOST}:{http} native {HOST}:{native}"
