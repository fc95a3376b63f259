"""Run dbt on this project with the DWH_* settings in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.settings import Settings


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def run_dbt(
    args: list[str],
    settings: Settings,
    target: str,
    run_date: str | None = None,
    check: bool = True,
    **kwargs,
) -> subprocess.CompletedProcess:
    """`dbt <args> --target <target>` in the project folder, building the window of `run_date`.

    The day goes in DWH_RUN_DATE rather than --vars: new vars make dbt re-parse the project.
    """
    command = [dbt_executable(), *args, "--target", target]
    env = {**os.environ, **settings.as_env()}
    env["DWH_RUN_DATE"] = run_date or ""
    return subprocess.run(command, cwd=settings.dbt_project_dir, env=env, check=check, **kwargs)
