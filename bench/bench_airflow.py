"""Benchmark: the Cosmos DAGs against plain dbt: how fast they parse, how long one run takes.

    .venv/bin/python bench/bench_airflow.py [--target postgres] [--parses 5] [--ls-parses 2]
                                            [--runs 1] [--scale 0.1]

Parse: dags/warehouse.py parsed the way the DAG processor parses it (a fresh process with
Airflow already imported, so only the file's own work is timed: Cosmos, the configs, the graph),
`--parses` times each way; the median is shown:
- manifest: rendered from the `dbt parse` manifest (the normal case);
- dbt ls: the manifest missing (the project copied to a temporary folder without it), so Cosmos
  runs `dbt ls`, with its cache of the `dbt ls` output off (the first parse after a change).

Run: on a private stack (temporary DWH_HOME, free ports), the outside world generated for the
opening day 2022-10-01 at `--scale`, then, `--runs` times, one after the other:
- dag: `airflow dags test warehouse_<target> 2022-10-01` through `python -m ingest.airflow_local`
  (Airflow start, preflight, ingest, one task per model) and, from its log, the span of the dbt
  tasks alone;
- dbt: a plain `dbt build --vars '{run_date: 2022-10-01}'` of the same project on the same
  landed data (its own target folder, parsed beforehand so both sides start from a parse).
Targets: parse with the manifest <= 1 s; a DAG run <= 1.5x the plain dbt build.
Prints results; asserts nothing (never a timed test).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from ingest import airflow_local, pipeline
from ingest.dbt import run_dbt
from ingest.settings import REPO_ROOT, Settings

DAY = date(2022, 10, 1)
SEED = 42
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/dbt")

# Runs in a fresh process: imports Airflow first (the DAG processor has it), then times the parse.
PARSE = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk
start = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "errors": len(bag.import_errors)}))
"""


def parse_once(env: dict[str, str]) -> dict:
    import json

    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(REPO_ROOT / "dags")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_times(env: dict[str, str], times: int) -> tuple[float, int, int]:
    found = [parse_once(env) for _ in range(times)]
    return (
        statistics.median(r["seconds"] for r in found),
        found[-1]["dags"],
        found[-1]["errors"],
    )


def project_copy(into: Path) -> Path:
    """The dbt project without its target folder: the DAGs find no manifest there."""
    for name in PROJECT_FILES:
        source, copy = REPO_ROOT / name, into / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy)
        elif source.exists():
            shutil.copy2(source, copy)
    return into


def bench_parse(settings: Settings, home: Path, times: int, ls_times: int) -> None:
    airflow_local.ensure_manifests(settings)
    env = airflow_local.airflow_env(settings, {**os.environ, "AIRFLOW_HOME": str(home)})
    with_manifest = parse_times(env, times)
    with tempfile.TemporaryDirectory(prefix="dwh-bench-project-") as folder:
        project = project_copy(Path(folder))
        no_manifest = {
            **env,
            "DWH_DBT_PROJECT_DIR": str(project),
            "AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS": "False",
        }
        with_ls = parse_times(no_manifest, ls_times)
    print(
        f"parse of dags/warehouse.py (median of {times}, with dbt ls {ls_times}, fresh processes)"
    )
    for name, (seconds, dags, errors) in (("manifest", with_manifest), ("dbt ls", with_ls)):
        print(f"  {name:<9} {seconds:6.2f} s  {dags} DAGs, {errors} import errors")
    print(f"  dbt ls / manifest: {with_ls[0] / with_manifest[0]:.1f}x   (target: manifest <= 1 s)")


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z .*\[DAG TEST\] (starting|end task) task_id=(\S+)")


def dbt_span(log: str) -> tuple[float, int]:
    """Seconds from the first dbt task's start to the last one's end, and how many ran."""
    starts, ends = {}, {}
    for line in log.splitlines():
        found = STAMP.match(line)
        if found and found.group(3).startswith("transform."):
            moment = datetime.fromisoformat(found.group(1))
            (starts if found.group(2) == "starting" else ends)[found.group(3)] = moment
    if not starts or not ends:
        return float("nan"), 0
    return (max(ends.values()) - min(starts.values())).total_seconds(), len(ends)


def dag_run(settings: Settings, home: Path, target: str, scale: float) -> tuple[float, float, int]:
    env = {
        **os.environ,
        **settings.as_env(),
        "AIRFLOW_HOME": str(home),
        "DWH_SEED": str(SEED),
        "DWH_SCALE": str(scale),
    }
    command = [sys.executable, "-m", "ingest.airflow_local", "dags", "test"]
    start = time.perf_counter()
    out = subprocess.run(
        [*command, f"warehouse_{target}", DAY.isoformat()],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"the DAG run failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    span, tasks = dbt_span(out.stdout + out.stderr)
    return elapsed, span, tasks


def dbt_build(settings: Settings, target: str, target_path: Path) -> float:
    args = ["--quiet", "--target-path", str(target_path), "--log-path", str(target_path)]
    start = time.perf_counter()
    run_dbt(["build", *args], settings, target, run_date=DAY.isoformat())
    return time.perf_counter() - start


def bench_runs(settings: Settings, home: Path, target: str, scale: float, runs: int) -> None:
    pipeline.generate_day(DAY, settings, seed=SEED, scale=scale)
    airflow_local.ensure_manifests(settings)
    airflow_local.ensure_database(airflow_local.airflow_env(settings, {"AIRFLOW_HOME": str(home)}))
    target_path = home / "dbt-target"
    # land the day once (the DAG's ingest), then give plain dbt its parse before the clock
    dag_run(settings, home, target, scale)
    run_dbt(["parse", "--quiet", "--target-path", str(target_path)], settings, target)
    print(f"\none run of {DAY} on {target}, scale {scale} (seconds)")
    ratios = []
    for number in range(1, runs + 1):
        plain = dbt_build(settings, target, target_path)
        total, span, tasks = dag_run(settings, home, target, scale)
        ratios.append((total / plain, span / plain))
        print(
            f"  run {number}: dbt build {plain:6.1f}   DAG run {total:6.1f} "
            f"(its {tasks} dbt tasks {span:6.1f}, {span / max(tasks, 1):.1f} each)"
        )
    total_ratio = statistics.median(r[0] for r in ratios)
    span_ratio = statistics.median(r[1] for r in ratios)
    print(f"  DAG run / dbt build: {total_ratio:.2f}x   (target: <= 1.5x)")
    print(f"  dbt tasks alone / dbt build: {span_ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="postgres", choices=["postgres", "clickhouse"])
    parser.add_argument("--parses", type=int, default=5)
    parser.add_argument("--ls-parses", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.1)
    args = parser.parse_args()

    from ingest.stack.private import private_stack

    with private_stack(prefix="dwh-bench-") as settings:
        home = settings.home / "airflow"
        home.mkdir()
        bench_parse(settings, home, args.parses, args.ls_parses)
        bench_runs(settings, home, args.target, args.scale, args.runs)


if __name__ == "__main__":
    main()
