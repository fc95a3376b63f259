"""Run dbt on this project with the DWH_* settings in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ingest.settings import Settings

# What the daily job adds to `dbt build` (`dwh run`, the DAGs, the benchmarks' day): it builds
# the day and tests the data. Unit tests have fixed inputs and check the code, which a new day
# does not change: they run in `make test` and in any plain `dbt build` (dbt's advice: unit
# tests in development and CI, not in production runs). About 4 s of a day's run here.
DAILY_FLAGS = ("--exclude-resource-type", "unit_test")


def lookback_days(settings: Settings) -> int:
    """The days before its run date that a dbt run rebuilds: the project's `lookback_days` var."""
    project = yaml.safe_load((settings.dbt_project_dir / "dbt_project.yml").read_text())
    return int(project["vars"]["lookback_days"])


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
