"""A private local stack: its own temporary DWH_HOME and free ports, started and stopped with it.

Tests (tests/conftest.py) and benchmarks (bench/) use it so they never touch the developer's
own `.dwh/` or its ports.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest import settings as settings_module
from ingest import stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_home(prefix: str = "dwh-test-") -> Iterator[Path]:
    """A temporary DWH_HOME, removed afterwards."""
    # Not a folder private to us (like pytest's tmp_path): Postgres runs as another user.
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def private_env(home: Path) -> dict[str, str]:
    """DWH_* settings for a private stack in `home`, on free ports."""
    return {
        "DWH_HOME": str(home),
        "DWH_PG_PORT": str(free_port()),
        "DWH_CH_PORT": str(free_port()),
        "DWH_CH_NATIVE_PORT": str(free_port()),
        "DWH_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "DWH_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }


@contextmanager
def running(
    env: dict[str, str], only: list[str] | None = None
) -> Iterator[settings_module.Settings]:
    """Start the stack `env` describes; yield its settings, also exported to os.environ.

    On exit the servers are stopped and os.environ is as it was.
    """
    saved = dict(os.environ)
    os.environ.update(env)
    settings = settings_module.load()
    os.environ.update(settings.values)
    try:
        stack.up(settings, only)
        yield settings
    finally:
        stack.down(settings, only)
        for key in settings.values:
            if key in saved:
                os.environ[key] = saved[key]
            else:
                os.environ.pop(key, None)


@contextmanager
def private_stack(
    only: list[str] | None = None, prefix: str = "dwh-test-"
) -> Iterator[settings_module.Settings]:
    """A private stack (all services, or `only` these) for the duration of the block."""
    with private_home(prefix) as home, running(private_env(home), only) as settings:
        yield settings
