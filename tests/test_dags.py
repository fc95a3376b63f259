"""The Airflow DAGs: their shape as Airflow parses them, and real runs with `airflow dags test`.

The runs use a private stack of their own (not the session's): a DAG run builds every model from
whatever has landed, so sharing a warehouse with other tests would make both sides flaky.
Airflow runs in subprocesses (its configuration is read once per process, at import), through
`python -m ingest.airflow_local` like `make dag-test`, each engine with its own AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from ingest import airflow_local, orchestration, pipeline
from ingest import settings as settings_module
from ingest.engines import fetch
from ingest.generators import World
from ingest.landing import KAFKA_TOPICS, PERSONS, S3_FILES
from ingest.settings import REPO_ROOT, Settings
from ingest.sinks import connect
from ingest.stack.private import private_env, private_home, private_stack

# The day: a run in the middle of the backfill, on an empty warehouse (its faker ingest also
# lands the shop's earlier exports, docs/airflow.md "Running it").
DAY = date(2022, 10, 5)
SEED = 42
SCALE = 0.1
TARGETS = ["postgres", "clickhouse"]

# Parses dags/ the way the DAG processor does and prints what the checks need, as JSON.
DUMP = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

def callbacks(value):
    value = value if isinstance(value, list) else [value] if value else []
    return [f"{c.__module__}.{c.__qualname__}" for c in value]

bag = DagBag(sys.argv[1])
out = {"errors": {path: str(error) for path, error in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "timetable": type(dag.timetable).__name__,
        "cron": getattr(dag.timetable, "expression", None),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat(),
        "tasks": {
            task.task_id: {
                "operator": type(task).__name__,
                "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
                "retries": task.retries,
                "backoff": task.retry_exponential_backoff,
                "retry_delay": task.retry_delay.total_seconds(),
                "on_failure": callbacks(task.on_failure_callback),
                "upstream": sorted(task.upstream_task_ids),
                "vars": getattr(task, "vars", None),
                "env": sorted(getattr(task, "env", None) or {}),
                "run_date": (getattr(task, "env", None) or {}).get("DWH_RUN_DATE"),
                "install_deps": getattr(task, "install_deps", None),
            }
            for task in dag.tasks
        },
    }
print(json.dumps(out))
"""


def airflow_env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    """The environment `make dag-test` gives Airflow, for this stack and AIRFLOW_HOME."""
    environ = {**os.environ, **settings.as_env(), "AIRFLOW_HOME": str(home), **extra}
    return airflow_local.airflow_env(settings_module.load(environ), environ)


def dags_test(
    settings: Settings, home: Path, dag_id: str, day: date, *args: str, **extra: str
) -> subprocess.Popen:
    """Start `airflow dags test <dag_id> <day>` through the project's launcher."""
    env = {
        **os.environ,
        **settings.as_env(),
        "AIRFLOW_HOME": str(home),
        "DWH_SEED": str(SEED),
        "DWH_SCALE": str(SCALE),
        **extra,
    }
    command = [sys.executable, "-m", "ingest.airflow_local", "dags", "test", dag_id, str(day)]
    return subprocess.Popen(
        [*command, *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=1200)
    return process.returncode, output


def tables(target: str, settings: Settings, schema: str) -> list[str]:
    query = {
        "postgres": "select table_name from information_schema.tables where table_schema = %(s)s",
        "clickhouse": "select name from system.tables where database = %(s)s",
    }[target]
    return sorted(row[0] for row in fetch(target, settings, query, {"s": schema}))


def snapshot(target: str, settings: Settings, schema: str = "marts") -> dict[str, list[str]]:
    """Every row of every table in `schema`, as sorted text: equal snapshots, equal tables."""
    return {
        table: sorted(
            repr(row)
            for row in fetch(target, settings, f'select * from "{schema}"."{table}"')  # noqa: S608
        )
        for table in tables(target, settings, schema)
    }


# --- the shape of the DAGs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def parsed() -> dict:
    """dags/ parsed by Airflow, with a Vertica configured (so all three DAGs exist)."""
    with private_home("dwh-dags-") as home:
        environ = {**private_env(home), "DWH_VERTICA_HOST": "vertica.invalid"}
        settings = settings_module.load(environ)
        airflow_local.ensure_manifests(settings)
        env = airflow_env(settings, home / "airflow", DWH_VERTICA_HOST="vertica.invalid")
        result = subprocess.run(
            [sys.executable, "-c", DUMP, str(REPO_ROOT / "dags")],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dump = json.loads(result.stdout.splitlines()[-1])
        dump["models"] = {
            target: manifest_models(orchestration.manifest_path(target, settings))
            for target in orchestration.targets(settings)
        }
        return dump


def manifest_models(path: Path) -> set[str]:
    nodes = json.loads(path.read_text())["nodes"].values()
    return {node["name"] for node in nodes if node["resource_type"] == "model"}


def test_dags_import_without_errors(parsed):
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {
        "warehouse_postgres",
        "warehouse_clickhouse",
        "warehouse_vertica",
    }


def test_vertica_dag_only_when_a_vertica_is_configured():
    assert orchestration.targets(settings_module.load({"DWH_VERTICA_HOST": ""})) == TARGETS
    with_vertica = settings_module.load({"DWH_VERTICA_HOST": "db.example"})
    assert orchestration.targets(with_vertica) == [*TARGETS, "vertica"]


def test_a_manifest_cut_short_is_stale(tmp_path):
    """A manifest dbt did not finish writing is made again, not rendered (nor imported broken)."""
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    manifest = tmp_path / "target" / "manifest.json"
    manifest.parent.mkdir()
    for text, current in (("", False), ('{"nodes": {"a"', False), ('{"nodes": {}}', True)):
        manifest.write_text(text)
        assert orchestration.manifest_is_current(manifest, tmp_path) is current, text


@pytest.mark.parametrize("target", ["postgres", "clickhouse", "vertica"])
def test_every_model_has_a_task(parsed, target):
    tasks = parsed["dags"][f"warehouse_{target}"]["tasks"]
    built = {m.group(1) for t in tasks if (m := re.fullmatch(r"transform\.(.+)_model_build", t))}
    assert parsed["models"][target], "the manifest has no models"
    assert built == parsed["models"][target]


@pytest.mark.parametrize("target", ["postgres", "clickhouse", "vertica"])
def test_every_task_retries_and_alerts(parsed, target):
    for task_id, task in parsed["dags"][f"warehouse_{target}"]["tasks"].items():
        assert task["retries"] >= 1, task_id
        assert task["backoff"] > 1, task_id
        assert "ingest.orchestration.send_alert" in task["on_failure"], task_id


@pytest.mark.parametrize("target", ["postgres", "clickhouse", "vertica"])
def test_an_unreachable_server_is_checked_again_in_seconds(parsed, target):
    """The preflight is there to fail fast: when it finds a server down it retries after a few
    seconds (then twice that), not after the other tasks' 60 s then 120 s."""
    preflight = parsed["dags"][f"warehouse_{target}"]["tasks"]["preflight"]
    assert preflight["retry_delay"] == orchestration.PREFLIGHT_RETRY_DELAY.total_seconds() <= 10


@pytest.mark.parametrize("target", ["postgres", "clickhouse"])
def test_daily_backfill_one_run_at_a_time(parsed, target):
    dag = parsed["dags"][f"warehouse_{target}"]
    assert (dag["timetable"], dag["cron"]) == ("CronTriggerTimetable", "0 0 * * *")  # @daily
    assert dag["catchup"] is True
    assert dag["max_active_runs"] == 1
    assert dag["start_date"] == "2022-10-01T00:00:00+00:00"


def test_preflight_then_ingest_then_dbt(parsed):
    tasks = parsed["dags"]["warehouse_postgres"]["tasks"]
    ingest = {f"ingest.{source}" for source in orchestration.ingest_sources()}
    assert {"ingest.faker", "ingest.s3", "ingest.kafka"} <= ingest
    assert {t for t in tasks if t.startswith("ingest.")} == ingest
    for task_id in ingest:
        assert tasks[task_id]["upstream"] == ["preflight"]
    for task_id, task in tasks.items():
        if task_id.startswith("transform.") and not any(
            u.startswith("transform.") for u in task["upstream"]
        ):
            assert set(task["upstream"]) == ingest, task_id


@pytest.mark.parametrize("target", ["postgres", "clickhouse"])
def test_one_dbt_build_then_a_task_per_model(parsed, target):
    """Watcher mode: one task runs `dbt build`; each model's task starts after it has ended
    (`airflow dags test` runs one task at a time: one started before would wait forever) and
    still runs when the build's retry ends it as skipped (`none_failed`), to fail where dbt did."""
    tasks = parsed["dags"][f"warehouse_{target}"]["tasks"]
    producer = "transform.dbt_producer_watcher"
    assert [t for t, task in tasks.items() if task["operator"] == "DbtProducerWatcherOperator"] == [
        producer
    ]
    models = {t: task for t, task in tasks.items() if t.endswith("_model_build")}
    assert {task["operator"] for task in models.values()} == {"DbtBuildWatcherSensor"}
    for task_id, task in models.items():
        upstream = set(task["upstream"])
        assert upstream and upstream <= {producer, *models}, task_id
        if upstream == {producer}:
            assert task["trigger_rule"] == "none_failed", task_id
        else:
            assert task["trigger_rule"] == "all_success", task_id


def test_dbt_tasks_get_the_run_date_their_engine_and_no_secret(parsed):
    tasks = parsed["dags"]["warehouse_clickhouse"]["tasks"]
    dbt_tasks = [task for task in tasks.values() if "Dbt" in task["operator"]]
    assert len(dbt_tasks) == len(parsed["models"]["clickhouse"]) + 1  # the build, the models
    for task in dbt_tasks:
        assert task["run_date"] == orchestration.RUN_DATE
        assert not task["vars"]  # a --vars value would make dbt re-parse the project each day
        assert task["install_deps"] is False
        assert "DWH_CH_HOST" in task["env"]
        assert not [name for name in task["env"] if "PASSWORD" in name or "SECRET" in name]
        assert not [name for name in task["env"] if name.startswith(("DWH_PG_", "DWH_S3_"))]


# --- the alert without a webhook, and with a broken one ------------------------------------


def failed_context() -> dict:
    """The parts of an Airflow task context the alert reads (the real one is in the run below)."""
    ti = SimpleNamespace(
        dag_id="warehouse_postgres",
        task_id="ingest.s3",
        run_id="scheduled__2022-10-02T00:00:00+00:00",
        try_number=3,
        log_url="http://127.0.0.1:8080/dags/warehouse_postgres/runs/x/tasks/ingest.s3",
    )
    return {"ti": ti, "logical_date": datetime(2022, 10, 2, tzinfo=UTC)}


def test_without_a_webhook_the_alert_is_only_logged(monkeypatch, caplog):
    monkeypatch.delenv(orchestration.WEBHOOK_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="ingest.orchestration"):
        orchestration.send_alert(failed_context())
    assert "no DWH_ALERT_WEBHOOK_URL set" in caplog.text
    assert "'task_id': 'ingest.s3'" in caplog.text


def test_a_broken_webhook_is_logged_not_raised(monkeypatch, caplog):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(orchestration.WEBHOOK_ENV, f"http://127.0.0.1:{port}/alerts")
    with caplog.at_level(logging.ERROR, logger="ingest.orchestration"):
        orchestration.send_alert(failed_context())
    assert "could not post the alert" in caplog.text


# --- real runs --------------------------------------------------------------------------------


class Webhook(BaseHTTPRequestHandler):
    """A local alert receiver: keeps every JSON body posted to it."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stack() -> Iterator[Settings]:
    with private_stack(prefix="dwh-dags-") as settings:
        pipeline.generate_day(DAY, settings, World(SEED, SCALE))  # the outside world's day
        airflow_local.ensure_manifests(settings)  # once, before runs that would race to make them
        yield settings


Marts = dict[str, list[str]]


@dataclass
class Runs:
    """What the runs of DAY left: each run's exit code and output, and the marts, by target."""

    first: dict[str, tuple[int, str]] = field(default_factory=dict)
    again: dict[str, tuple[int, str]] = field(default_factory=dict)
    after_dag: dict[str, Marts] = field(default_factory=dict)
    after_dwh_run: Marts = field(default_factory=dict)  # Postgres's
    after_again: dict[str, Marts] = field(default_factory=dict)


@pytest.fixture(scope="module")
def runs(stack) -> Runs:
    """Each engine's DAG run of DAY, then the same run again; on Postgres `dwh run` of the day
    between the two. The engines side by side, ClickHouse's in a thread (a DAG run is one
    process: two use both cores), so its second run costs only what it outlasts Postgres's."""
    found = Runs()

    def day_twice(target: str, between: Callable[[], None] | None = None) -> None:
        home = stack.home / f"airflow-{target}"
        found.first[target] = finish(dags_test(stack, home, f"warehouse_{target}", DAY))
        if found.first[target][0] != 0:
            return
        found.after_dag[target] = snapshot(target, stack)
        if between:
            between()
        found.again[target] = finish(dags_test(stack, home, f"warehouse_{target}", DAY))
        found.after_again[target] = snapshot(target, stack)

    def dwh_run() -> None:
        pipeline.run(DAY, DAY, "postgres", stack, World(SEED, SCALE))
        found.after_dwh_run.update(snapshot("postgres", stack))

    with ThreadPoolExecutor(max_workers=1) as beside:
        clickhouse = beside.submit(day_twice, "clickhouse")
        day_twice("postgres", between=dwh_run)
        clickhouse.result()
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_a_dag_run_lands_and_builds_the_day(stack, runs, target):
    code, output = runs.first[target]
    assert code == 0, output[-5000:]
    day = {"day": DAY}
    for table in (PERSONS, *S3_FILES.values(), *KAFKA_TOPICS.values()):
        landed = f"select count(*) from {table.qualified} where _batch_date = %(day)s"  # noqa: S608
        assert fetch(target, stack, landed, day)[0][0] > 0, table.qualified
    marts = snapshot(target, stack)
    assert {"global_metrics", "person_count_by_city", "mart_user_activity"} <= set(marts)
    assert all(marts.values()), [table for table, rows in marts.items() if not rows]
    dated = "select count(*) from marts.global_metrics where date_update = %(day)s"
    assert fetch(target, stack, dated, day)[0][0] > 0


def test_dbt_tasks_ran_with_the_runs_day(stack, runs):
    """The DWH_RUN_DATE each dbt task got, as Airflow recorded it after rendering."""
    assert runs.first["postgres"][0] == 0, "the first Postgres run failed"
    with sqlite3.connect(stack.home / "airflow-postgres" / "airflow.db") as db:
        rows = db.execute(
            "select task_id, rendered_fields from rendered_task_instance_fields"
            " where dag_id = ? and (task_id = ? or task_id like 'transform.%_model_build')",
            ("warehouse_postgres", "transform.dbt_producer_watcher"),
        ).fetchall()
    assert len(rows) > 1
    for task_id, fields in rows:
        assert json.loads(fields)["env"]["DWH_RUN_DATE"] == DAY.isoformat(), task_id


def test_the_dag_leaves_what_dwh_run_leaves(runs):
    assert runs.after_dag.get("postgres"), "the first Postgres run failed"
    assert runs.after_dwh_run == runs.after_dag["postgres"]


@pytest.mark.parametrize("target", TARGETS)
def test_running_the_same_day_again_changes_nothing(runs, target):
    assert target in runs.again, f"the first {target} run failed"
    code, output = runs.again[target]
    assert code == 0, output[-5000:]
    assert runs.after_again[target] == runs.after_dag[target]


def test_a_failing_dbt_test_fails_the_run_and_alerts(stack, runs):
    """A person whose age is not a number fails `not_null` on stg_faker__persons.age.

    Only the build and that model's task run (the others are marked successful): the failure,
    its retries and the alert are what is under test, not the rest of the DAG. The build fails,
    its retry ends it as skipped; the model's task then fails on the build's test result, and
    each of its retries builds the model alone, with its tests, and fails again.
    """
    failing = "transform.stg_faker__persons_model_build"
    running = "|".join(map(re.escape, ["transform.dbt_producer_watcher", failing]))
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    Webhook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bad_day = DAY - timedelta(days=1)  # in the run's window; the run's ingest replaces DAY's batch
    stamp = f"{bad_day} 12:00:00"
    bad = {  # a readable person but for the age (the loader would reject it; dbt must catch it)
        "id": "0b8f0c0e-0000-4000-8000-000000000001",
        "name": "Иван Тестов",
        "age": "not a number",
        "address": "г. Цимлянск, ул. Лесная, д. 1",
        "email": "ivan@example.com",
        "phone_number": "+7 900 000-00-00",
        "registration_date": str(bad_day),
        "created_at": stamp,
        "updated_at": stamp,
        "deleted_at": None,
    }
    sink = connect("postgres", stack)
    try:
        sink.replace_batch(PERSONS, bad_day, [tuple(bad[c] for c in PERSONS.columns)])
        process = dags_test(
            stack,
            stack.home / "airflow-postgres",
            "warehouse_postgres",
            DAY,
            "--mark-success-pattern",
            rf"(?!({running})$).*",
            DWH_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/alerts",
            DWH_AIRFLOW_RETRY_DELAY="1",
        )
        code, output = finish(process)
    finally:
        sink.replace_batch(PERSONS, bad_day, [])
        sink.close()
        server.shutdown()
    assert code != 0, output[-5000:]
    assert "not_null_stg_faker__persons_age" in output
    assert len(Webhook.received) == 1, Webhook.received
    alert = Webhook.received[0]
    assert set(alert) == {"dag_id", "task_id", "run_id", "logical_date", "try_number", "log_url"}
    assert (alert["dag_id"], alert["task_id"]) == ("warehouse_postgres", failing)
    assert alert["logical_date"] == f"{DAY}T00:00:00+00:00"
    assert alert["try_number"] == 3  # the first try and the two retries
    assert alert["run_id"] and alert["run_id"] in alert["log_url"].replace("%3A", ":").replace(
        "%2B", "+"
    )
    assert "/dags/warehouse_postgres/runs/" in alert["log_url"]
