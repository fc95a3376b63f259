"""Lint as part of the tests: ruff on Python, sqlfluff (dbt templater) on the dbt project, and
the Vertica dialect on the SQL compiled for Vertica. The dbt templater compiles against the
running Postgres of the test stack, hence the `dwh` fixture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingest.dbt import run_dbt
from ingest.settings import REPO_ROOT

BIN = Path(sys.executable).parent
PYTHON_PATHS = ["ingest", "tests", "dags", "bench"]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = _run(str(BIN / "ruff"), "check", *PYTHON_PATHS)
    assert result.returncode == 0, result.stdout


def test_ruff_format():
    result = _run(str(BIN / "ruff"), "format", "--check", *PYTHON_PATHS)
    assert result.returncode == 0, result.stdout


def test_sqlfluff_dbt_project(dwh):
    # macros are linted through the models that render them (the dbt templater skips macro files)
    result = _run(str(BIN / "sqlfluff"), "lint", "models", "tests/dbt", "--processes", "2")
    assert result.returncode == 0, result.stdout[-5000:]


def test_sqlfluff_vertica_dialect_on_compiled_sql(dwh, tmp_path):
    target_path = tmp_path / "vertica"
    run_dbt(
        ["compile", "--no-populate-cache", "--target-path", str(target_path), "--quiet"],
        dwh,
        "vertica",
    )
    compiled = target_path / "compiled" / "warehouse" / "models"
    assert any(compiled.rglob("*.sql"))
    # Compiled SQL keeps the template's layout, so only whether Vertica's grammar parses it counts.
    result = _run(
        str(BIN / "sqlfluff"),
        "lint",
        str(compiled),
        "--dialect",
        "vertica",
        "--templater",
        "raw",
        "--rules",
        "capitalisation.keywords",
        "--processes",
        "2",
    )
    assert result.returncode == 0, result.stdout[-5000:]
