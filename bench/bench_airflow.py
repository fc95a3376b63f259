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
- dbt: a plain `dbt build` of the same project on the day's landed data, the day in
  DWH_RUN_DATE as `dwh run` gives it (its own target folder, parsed beforehand so both sides
  start from a partial parse);
- dag: `airflow dags test warehouse_<target> 2022-10-01` through `python -m ingest.airflow_local`,
  timed whole and, from its log, split into Airflow's start (process, imports, DAG parse,
  metadata DB, to the first task), preflight and ingest, the dbt part (the transform group:
  Cosmos's watcher task running one `dbt build`, then one task per model reporting its result),
  and Airflow's end.
Targets: parse with the manifest <= 1 s; a DAG run <= 1.5x the plain dbt build, judged on the
DAG's dbt part: it does the work the plain build does, on the same data. The whole run is
printed too; it also starts Airflow and lands the day, which the plain build does not
(docs/airflow.md).
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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ingest import airflow_local, pipeline
from ingest.dbt import DAILY_FLAGS, run_dbt
from ingest.generators import World
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
# Airflow's execution API answering the first task: it starts in-process with that task
STARTED = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z .*Task started ")
PRODUCER = "transform.dbt_producer_watcher"
FULL_PARSE = "Unable to do partial parsing"


@dataclass(frozen=True)
class DagRun:
    """Where the wall time of one `airflow dags test` went, in seconds."""

    total: float  # the whole command: Airflow's start, every task, its end
    start: float  # Airflow's start: process, imports, DAG parse, metadata, its API, to a task
    ingest: float  # preflight and the ingest tasks
    dbt: float  # the transform group: the `dbt build` task, then the model tasks
    build: float  # the `dbt build` task alone
    models: int  # model tasks after it
    full_parse: bool  # dbt found no partial parse to reuse (the plain build had one)

    @property
    def end(self) -> float:
        return self.total - self.start - self.ingest - self.dbt


def spans(log: str) -> dict[str, tuple[datetime, datetime]]:
    """Each task's first start and last end, from the `[DAG TEST]` lines."""
    found: dict[str, list[datetime]] = {}
    for line in log.splitlines():
        if match := STAMP.match(line):
            moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
            task = found.setdefault(match.group(3), [moment, moment])
            if match.group(2) == "starting":
                task[0] = min(task[0], moment)
            else:
                task[1] = max(task[1], moment)
    return {task: (first, last) for task, (first, last) in found.items()}


def task_log(log: str, task_id: str) -> str:
    """The lines of `log` from the task's (first) start to its (last) end."""
    start = log.find(f"[DAG TEST] starting task_id={task_id} ")
    end = log.rfind(f"[DAG TEST] end task task_id={task_id} ")
    return log[start:end] if 0 <= start < end else ""


def dag_run(settings: Settings, home: Path, target: str, scale: float) -> DagRun:
    env = {
        **os.environ,
        **settings.as_env(),
        "AIRFLOW_HOME": str(home),
        "DWH_SEED": str(SEED),
        "DWH_SCALE": str(scale),
    }
    command = [sys.executable, "-m", "ingest.airflow_local", "dags", "test"]
    began = datetime.now(UTC)
    out = subprocess.run(
        [*command, f"warehouse_{target}", DAY.isoformat()],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    ended = datetime.now(UTC)
    log = out.stdout + out.stderr
    if out.returncode != 0:
        kept = Path(tempfile.mkstemp(prefix="bench-airflow-failed-", suffix=".log")[1])
        kept.write_text(log)
        raise RuntimeError(f"the DAG run failed (its whole log: {kept}):\n{log[-3000:]}")
    tasks = spans(log)
    dbt = [span for task, span in tasks.items() if task.startswith("transform.")]
    first_dbt = min(first for first, _ in dbt)
    first_task = next(
        datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        for line in log.splitlines()
        if (match := STARTED.match(line))
    )
    build = tasks[PRODUCER]
    return DagRun(
        total=(ended - began).total_seconds(),
        start=(first_task - began).total_seconds(),
        ingest=(first_dbt - first_task).total_seconds(),
        dbt=(max(last for _, last in dbt) - first_dbt).total_seconds(),
        build=(build[1] - build[0]).total_seconds(),
        models=sum(task.endswith("_model_build") for task in tasks),
        full_parse=FULL_PARSE in task_log(log, PRODUCER),
    )


def dbt_build(settings: Settings, target: str, target_path: Path) -> float:
    args = ["--quiet", "--target-path", str(target_path), "--log-path", str(target_path)]
    start = time.perf_counter()
    run_dbt(["build", *args, *DAILY_FLAGS], settings, target, run_date=DAY.isoformat())
    return time.perf_counter() - start


def bench_runs(settings: Settings, home: Path, target: str, scale: float, runs: int) -> None:
    pipeline.generate_day(DAY, settings, World(SEED, scale))
    airflow_local.ensure_manifests(settings)
    airflow_local.ensure_database(airflow_local.airflow_env(settings, {"AIRFLOW_HOME": str(home)}))
    target_path = home / "dbt-target"
    # land the day once (the DAG's ingest; it also leaves Cosmos a partial parse for this stack),
    # then give plain dbt its parse before the clock
    dag_run(settings, home, target, scale)
    run_dbt(["parse", "--quiet", "--target-path", str(target_path)], settings, target)
    print(f"\none run of {DAY} on {target}, scale {scale} (seconds)")
    ratios = []
    for number in range(1, runs + 1):
        plain = dbt_build(settings, target, target_path)
        run = dag_run(settings, home, target, scale)
        ratios.append((run.total / plain, run.dbt / plain))
        print(
            f"  run {number}: dbt build {plain:5.1f}   DAG run {run.total:5.1f} = Airflow start"
            f" {run.start:4.1f} + preflight and ingest {run.ingest:4.1f} + dbt {run.dbt:5.1f}"
            f" (the build task {run.build:5.1f}, then {run.models} model tasks"
            f" {run.dbt - run.build:4.1f}) + Airflow end {run.end:4.1f}"
        )
        if run.full_parse:
            print(
                "    (the DAG's dbt parsed the project in full: target/partial_parse.msgpack was"
                " newer than Cosmos's cache and made for other settings; noise, not the DAG)"
            )
    total_ratio = statistics.median(r[0] for r in ratios)
    dbt_ratio = statistics.median(r[1] for r in ratios)
    print(f"  the DAG's dbt part / dbt build: {dbt_ratio:.2f}x   (target: <= 1.5x)")
    print(f"  the whole DAG run / dbt build:  {total_ratio:.2f}x   (also Airflow and ingest)")


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
