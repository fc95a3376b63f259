"""The stack as a whole: idempotent up, clear errors, settings printed for the shell."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from ingest import settings as settings_module
from ingest import stack
from ingest.stack.postgres import Postgres
from ingest.stack.process import StackError
from tests.conftest import free_port


def test_up_twice_starts_nothing_new(dwh):
    before = {service.name: pid for service, pid in stack.status(dwh)}
    assert all(before.values())
    again = stack.up(dwh)
    assert [started for _, started in again] == [False] * len(again)
    assert {service.name: pid for service, pid in stack.status(dwh)} == before


def test_busy_port_names_the_service(dwh, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = settings_module.load({"DWH_HOME": str(tmp_path), "DWH_PG_PORT": str(port)})
        with pytest.raises(StackError, match=rf"postgres: port {port} on 127.0.0.1 is busy"):
            Postgres(other).start()


def test_failed_start_names_the_log(tmp_path):
    home = tmp_path / "home"
    other = settings_module.load({"DWH_HOME": str(home), "DWH_PG_PORT": str(free_port())})
    service = Postgres(other)
    service.dir.mkdir(parents=True)
    service.data_dir.mkdir()
    (service.data_dir / "PG_VERSION").write_text("not a cluster\n")  # initdb is skipped
    with pytest.raises(StackError, match=r"postgres: exited with code \d+ while starting\. Log: "):
        service.start()
    assert service.pid() is None


def test_env_prints_exports(dwh):
    out = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "env"], capture_output=True, text=True, check=True
    ).stdout
    lines = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert lines["DWH_PG_PORT"] == dwh["DWH_PG_PORT"]
    assert set(settings_module.DEFAULTS) | set(settings_module.SECRETS) <= set(lines)
