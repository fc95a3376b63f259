"""Run dbt on this project with the DWH_* settings in its environment."""

from __future__ import annotations

import json
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
    """`dbt <args> --target <target>` in the project folder; `run_date` becomes the dbt var."""
    command = [dbt_executable(), *args, "--target", target]
    if run_date is not None:
        command += ["--vars", json.dumps({"run_date": run_date})]
    env = {**os.environ, **settings.as_env()}
    return subprocess.run(command, cwd=settings.dbt_project_dir, env=env, check=check, **kwargs)
