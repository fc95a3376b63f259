"""Lint as part of the tests: ruff on Python, sqlfluff (dbt templater) on the dbt project, and
the Vertica dialect on the SQL compiled for Vertica. The dbt templater compiles against the
running Postgres of the test stack, hence the `dwh` fixture."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from ingest.dbt import run_dbt
from ingest.settings import REPO_ROOT

BIN = Path(sys.executable).parent
PYTHON_PATHS = ["ingest", "tests", "dags", "bench"]
# What sqlfluff lints. Not macros/: the dbt templater skips a macro file ("Skipped file ...
# because it is a macro"), and the jinja templater renders one to no SQL at all (a file of macro
# definitions outputs nothing), so it can only judge where the Jinja tags sit and how long the
# lines are, and cannot read `{% materialization %}`. A macro is linted through the models and
# tests that render it; the pre-commit hook lints all of them when a macro changes.
SQL_PATHS = ["models", "tests/dbt"]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = _run(str(BIN / "ruff"), "check", *PYTHON_PATHS)
    assert result.returncode == 0, result.stdout


def test_ruff_format():
    result = _run(str(BIN / "ruff"), "format", "--check", *PYTHON_PATHS)
    assert result.returncode == 0, result.stdout


def test_sqlfluff_dbt_project(dwh):
    result = _run(str(BIN / "sqlfluff"), "lint", *SQL_PATHS, "--processes", "2")
    assert result.returncode == 0, result.stdout[-5000:]


def test_pre_commit_hooks_cover_what_is_linted_here():
    """The hooks parse (pre-commit is no dependency, so nothing else reads the file) and the
    sqlfluff hook takes every SQL file linted here, and the macros, whose change lints them all."""
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "sqlfluff"} <= set(hooks)
    sql_files = re.compile(hooks["sqlfluff"]["files"])
    for folder in [*SQL_PATHS, "macros"]:
        paths = [
            path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / folder).rglob("*.sql")
        ]
        assert paths and all(sql_files.search(path) for path in paths), folder


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
