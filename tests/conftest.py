"""Shared fixtures: one real local stack for the whole test session, on free ports.

The stack lives in a temporary DWH_HOME so tests never touch the developer's own `.dwh/`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest import settings as settings_module
from ingest.stack.private import free_port, private_env, private_home, running

__all__ = ["free_port"]


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """DWH_* settings for a private stack: its own home folder and free ports."""
    with private_home() as home:
        yield private_env(home)


@pytest.fixture(scope="session")
def dwh(stack_env: dict[str, str]) -> Iterator[settings_module.Settings]:
    """The running private stack's settings; also exported to os.environ for child processes."""
    with running(stack_env) as settings:
        yield settings
