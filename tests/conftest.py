"""Shared fixtures: one real local stack for the whole test session, on free ports.

The stack lives in a temporary DWH_HOME so tests never touch the developer's own `.dwh/`.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import settings as settings_module
from ingest import stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """DWH_* settings for a private stack: its own home folder and free ports."""
    # Not pytest's tmp_path: its parent is private to us, and Postgres runs as another user.
    home = Path(tempfile.mkdtemp(prefix="dwh-test-"))
    home.chmod(0o755)
    yield {
        "DWH_HOME": str(home),
        "DWH_PG_PORT": str(free_port()),
        "DWH_CH_PORT": str(free_port()),
        "DWH_CH_NATIVE_PORT": str(free_port()),
        "DWH_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "DWH_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def dwh(stack_env: dict[str, str]) -> Iterator[settings_module.Settings]:
    """The running private stack's settings; also exported to os.environ for child processes."""
    saved = {key: os.environ.get(key) for key in stack_env}
    os.environ.update(stack_env)
    settings = settings_module.load()
    os.environ.update(settings.values)
    try:
        stack.up(settings)
        yield settings
    finally:
        stack.down(settings)
        for key in settings.values:
            if saved.get(key) is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved[key]
