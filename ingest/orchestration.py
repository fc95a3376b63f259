"""What the warehouse DAGs call: alerts, the preflight check, ingest tasks and the Cosmos configs.

It lives in the installed package, not beside the DAG files, because the Airflow 3 CLI does not
put `dags/` on sys.path: a DAG file imports this module and only wires what it returns.
Everything here reads the same `DWH_*` settings as the CLI and profiles.yml (ingest/settings.py).
See docs/airflow.md for the decisions.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest import settings as settings_module
from ingest.dbt import DAILY_FLAGS, dbt_executable
from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, World
from ingest.settings import OPTIONAL_SECRETS, SECRETS, Settings

if TYPE_CHECKING:  # Cosmos imports Airflow: only the DAG files' callers pay for it
    from airflow.sdk import TaskGroup
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

log = logging.getLogger(__name__)

PROFILE = "warehouse"  # the profile name in profiles.yml
LOCAL_TARGETS = ("postgres", "clickhouse")  # always there: the local stack serves them
# The day a run builds, from its data interval. With the `@daily` trigger timetable a run's
# interval starts at its logical date, so scheduled runs, backfills and `airflow dags test D`
# all build day D. dbt gets it as DWH_RUN_DATE, like `dwh run` (ingest/dbt.py): a new --vars
# value would make the first dbt task of every run re-parse the whole project.
RUN_DATE = "{{ data_interval_start | ds }}"
WEBHOOK_ENV = "DWH_ALERT_WEBHOOK_URL"
PROBE_TIMEOUT = 5  # seconds per reachability probe: a dead server fails the preflight quickly
PRODUCER_RETRY_DELAY = timedelta(seconds=1)  # see cosmos_configs
# the preflight's retries: it is there to fail fast (60 s, then 120 s would fail a run with a
# server down only after some 3 minutes), and a few seconds still ride out a server's restart
PREFLIGHT_RETRY_DELAY = timedelta(seconds=5)

IngestFunction = Callable[[date, str, Settings, World], list[Any]]


# --- the DAGs: which engines, when, how often to retry ---------------------------------------


def targets(settings: Settings | None = None) -> list[str]:
    """The engines that get a DAG: the local stack's, plus Vertica when one is configured."""
    settings = settings or settings_module.load()
    return [*LOCAL_TARGETS, *(["vertica"] if settings["DWH_VERTICA_HOST"] else [])]


def _setting(settings: Settings, name: str, default: str) -> str:
    return settings.values.get(name) or default


def start_date(settings: Settings | None = None) -> datetime:
    """`DWH_AIRFLOW_START_DATE` (default 2022-10-01), midnight UTC: the first day backfilled."""
    settings = settings or settings_module.load()
    day = date.fromisoformat(_setting(settings, "DWH_AIRFLOW_START_DATE", "2022-10-01"))
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def end_date(settings: Settings | None = None) -> datetime | None:
    """`DWH_AIRFLOW_END_DATE` if set: the last day run (a bounded demo backfill)."""
    settings = settings or settings_module.load()
    value = settings.values.get("DWH_AIRFLOW_END_DATE")
    if not value:
        return None
    day = date.fromisoformat(value)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def default_args(settings: Settings | None = None) -> dict[str, Any]:
    """Every task: retries with exponential backoff, and the failure alert.

    `DWH_AIRFLOW_RETRIES` (default 2) and `DWH_AIRFLOW_RETRY_DELAY` (seconds, default 60; each
    retry waits about twice as long as the one before, at most 30 minutes).
    """
    settings = settings or settings_module.load()
    return {
        "owner": "warehouse",
        "retries": int(_setting(settings, "DWH_AIRFLOW_RETRIES", "2")),
        "retry_delay": timedelta(
            seconds=float(_setting(settings, "DWH_AIRFLOW_RETRY_DELAY", "60"))
        ),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": send_alert,
    }


# --- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """What a failure alert says: enough to find the failed try and its log."""

    dag_id: str
    task_id: str
    run_id: str
    logical_date: str | None
    try_number: int
    log_url: str


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    ti = context["ti"]
    logical = context.get("logical_date")
    return Alert(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        logical_date=logical.isoformat() if logical else None,
        try_number=ti.try_number,
        log_url=ti.log_url,
    )


def post_json(url: str, payload: Mapping[str, Any], timeout: float = 10) -> int:
    """POST `payload` as JSON; return the HTTP status (an error status raises)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our setting
        return response.status


def send_alert(context: Mapping[str, Any]) -> None:
    """`on_failure_callback`: post the alert to `DWH_ALERT_WEBHOOK_URL`, or only log it.

    Never raises: a broken webhook must not hide the task's own failure, so it is logged instead.
    """
    alert = asdict(alert_from_context(context))
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        log.warning("task failed (no %s set, alert only logged): %s", WEBHOOK_ENV, alert)
        return
    try:
        post_json(url, alert)
        log.info("alert posted to the webhook: %s", alert)
    except Exception:
        log.exception("could not post the alert to %s: %s", WEBHOOK_ENV, alert)


# --- preflight: is everything this run needs reachable? ---------------------------------------


class PreflightError(RuntimeError):
    """Something a run needs is not reachable; the message lists each one and where."""


def _check_postgres(settings: Settings) -> None:
    from ingest.stack.postgres import connect

    with connect(settings, connect_timeout=PROBE_TIMEOUT) as conn:
        conn.execute("select 1")


def _check_clickhouse(settings: Settings) -> None:
    from ingest.sinks.clickhouse import client

    ch = client(settings, connect_timeout=PROBE_TIMEOUT, send_receive_timeout=PROBE_TIMEOUT)
    try:
        ch.query("select 1")
    finally:
        ch.close()


def _check_vertica(settings: Settings) -> None:
    from ingest.sinks.vertica import connect

    connect(settings, timeout=PROBE_TIMEOUT).close()


def _check_s3(settings: Settings) -> None:
    from ingest import s3

    options = {"connect_timeout": PROBE_TIMEOUT, "read_timeout": PROBE_TIMEOUT}
    client = s3.client(settings, retries={"max_attempts": 1}, **options)
    client.head_bucket(Bucket=settings["DWH_S3_BUCKET"])


def _check_kafka(settings: Settings) -> None:
    from kafka import KafkaAdminClient

    timeout_ms = PROBE_TIMEOUT * 1000
    admin = KafkaAdminClient(  # it bootstraps here: 30 s by default when no broker answers
        bootstrap_servers=settings["DWH_KAFKA_BOOTSTRAP"],
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        admin.list_topics()
    finally:
        admin.close()


@dataclass(frozen=True)
class Probe:
    """How to tell whether one server is reachable, and how to name it in the error."""

    where: Callable[[Settings], str]
    check: Callable[[Settings], None]


TARGET_PROBES: dict[str, Probe] = {
    "postgres": Probe(
        lambda s: f"{s['DWH_PG_HOST']}:{s['DWH_PG_PORT']}/{s['DWH_PG_DATABASE']}", _check_postgres
    ),
    "clickhouse": Probe(lambda s: f"{s['DWH_CH_HOST']}:{s['DWH_CH_PORT']}", _check_clickhouse),
    "vertica": Probe(lambda s: f"{s['DWH_VERTICA_HOST']}:{s['DWH_VERTICA_PORT']}", _check_vertica),
}
# Sources that need a server; the faker source is generated in process and needs none.
SOURCE_PROBES: dict[str, Probe] = {
    "s3": Probe(lambda s: f"{s['DWH_S3_ENDPOINT']}, bucket {s['DWH_S3_BUCKET']}", _check_s3),
    "kafka": Probe(lambda s: s["DWH_KAFKA_BOOTSTRAP"], _check_kafka),
}


def preflight(target: str, settings: Settings | None = None) -> list[str]:
    """Check the target and the server of every ingest source; one error names all that fail.

    Returns what was checked (shown in the task log and XCom).
    """
    settings = settings or settings_module.load()
    probes = {target: TARGET_PROBES[target]}
    probes.update({s: SOURCE_PROBES[s] for s in ingest_sources() if s in SOURCE_PROBES})
    reached, failed = [], []
    for name, probe in probes.items():
        where = f"{name} at {probe.where(settings)}"
        try:
            probe.check(settings)
            reached.append(where)
        except Exception as error:  # whatever stops us reaching it is the answer we report
            failed.append(f"{where} ({type(error).__name__}: {error})")
    if failed:
        raise PreflightError(
            "not reachable: "
            + "; ".join(failed)
            + ". Check the DWH_* settings of the Airflow workers (locally: `dwh up`, `dwh status`)."
        )
    log.info("reachable: %s", "; ".join(reached))
    return reached


# --- ingest ------------------------------------------------------------------------------------


def ingest_sources() -> list[str]:
    """The sources of ingest/pipeline.py: each `ingest_<source>` function but `ingest_day`.

    The DAGs build their `ingest` group from this, so a loader added to pipeline.py becomes a
    task without editing a DAG file. Read from the module's source, in file order, not imported:
    importing every loader's client library would cost the DAG processor a second per parse.
    """
    tree = ast.parse(Path(_pipeline_file()).read_text())
    return [
        node.name.removeprefix("ingest_")
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name.startswith("ingest_")
        and node.name != "ingest_day"
    ]


def _pipeline_file() -> str:
    spec = importlib.util.find_spec("ingest.pipeline")
    if spec is None or spec.origin is None:
        raise ImportError("ingest.pipeline is not installed")
    return spec.origin


def run_ingest(source: str, target: str, day: str) -> list[str]:
    """Land one source's data for `day` (YYYY-MM-DD) into `target`: the `ingest` tasks' callable.

    The generated world's seed, scale and dirt rate are `DWH_SEED`, `DWH_SCALE` and
    `DWH_DIRT_RATE` (as `dwh run`'s --seed, --scale and --dirt-rate).
    """
    from ingest import pipeline  # here, not at the top: see ingest_sources

    settings = settings_module.load()
    world = World(
        seed=int(_setting(settings, "DWH_SEED", str(DEFAULT_SEED))),
        scale=float(_setting(settings, "DWH_SCALE", "1")),
        dirt_rate=float(_setting(settings, "DWH_DIRT_RATE", str(DEFAULT_DIRT_RATE))),
    )
    ingest: IngestFunction = getattr(pipeline, f"ingest_{source}")
    results = ingest(date.fromisoformat(day), target, settings, world)
    for result in results:
        log.info("%s %s %s: %s", day, target, source, result)
    return [str(result) for result in results]


# --- Cosmos: the dbt project rendered as one task per model -----------------------------------


def manifest_path(target: str, settings: Settings | None = None) -> Path:
    """Where `dbt parse --target <target>` leaves the manifest the DAG is rendered from."""
    settings = settings or settings_module.load()
    return settings.dbt_project_dir / "target" / "airflow" / target / "manifest.json"


PROJECT_INPUTS = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests/dbt")


def manifest_is_current(manifest: Path, project_dir: Path) -> bool:
    """True when the manifest exists, whole, and no project file changed after it was written.

    dbt writes the manifest in place: a `dbt parse` killed meanwhile leaves it empty or cut
    short, and one unreadable manifest would keep both DAGs (one file) from importing.
    """
    if not manifest.exists() or not _ends_with(manifest, b"}"):
        return False
    written = manifest.stat().st_mtime
    for name in PROJECT_INPUTS:
        path = project_dir / name
        files = path.rglob("*") if path.is_dir() else [path] if path.exists() else []
        if any(f.stat().st_mtime > written for f in files):
            return False
    return True


def _ends_with(path: Path, tail: bytes) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) < len(tail):
            return False
        file.seek(-len(tail), os.SEEK_END)
        return file.read() == tail


# Each engine's settings, by prefix: a dbt task for one engine carries only these and dbt's own.
ENGINE_SETTINGS = {"postgres": "DWH_PG_", "clickhouse": "DWH_CH_", "vertica": "DWH_VERTICA_"}


def dbt_env(target: str, settings: Settings) -> dict[str, str]:
    """The settings dbt needs for `target`: its engine's and dbt's own, minus the secrets.

    The operators' `env` is rendered into the serialized DAG and the UI, so passwords stay out of
    it; dbt gets them from the worker's own environment (`append_env`). The other engines' and
    the sources' settings stay out too: dbt does not read them, and Airflow renders every value
    of `env` as a template and stores it, for every task.
    """
    hidden = set(SECRETS) | set(OPTIONAL_SECRETS)
    wanted = (ENGINE_SETTINGS[target], "DWH_DBT_", "DBT_")
    return {
        key: value
        for key, value in settings.as_env().items()
        if key.startswith(wanted) and key not in hidden
    }


@dataclass(frozen=True)
class CosmosConfigs:
    """The four Cosmos configs and the operator arguments of one engine's DbtTaskGroup."""

    project: ProjectConfig
    profile: ProfileConfig
    execution: ExecutionConfig
    render: RenderConfig
    operator_args: dict[str, Any]


def cosmos_configs(target: str, settings: Settings | None = None) -> CosmosConfigs:
    """How `target`'s DAG renders and runs the dbt project.

    Rendered from the manifest of `dbt parse` when it is current (fast: no dbt at parse time),
    else from `dbt ls` (Cosmos caches its output). Cosmos's watcher mode: one task runs a single
    `dbt build` of the whole project (dbt's own threads and order, one parse); each model then
    gets one light task passing when the build built it and passed every test on it (a test on
    several models counts for each: a task of its own would only ever watch, never see a
    result), which on a retry builds its model alone (ingest/cosmos_watcher.py). See
    docs/airflow.md for why and how it fails.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from ingest import cosmos_watcher

    settings = settings or settings_module.load()
    project_dir = settings.dbt_project_dir
    manifest = manifest_path(target, settings)
    use_manifest = manifest_is_current(manifest, project_dir)
    if not use_manifest:
        log.warning("%s is missing or stale: rendering with `dbt ls`", manifest)
    return CosmosConfigs(
        project=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest if use_manifest else None,
            install_dbt_deps=False,
            partial_parse=True,
            env_vars={**dbt_env(target, settings), "DWH_RUN_DATE": RUN_DATE},
        ),
        profile=ProfileConfig(
            profile_name=PROFILE,
            target_name=target,
            profiles_yml_filepath=project_dir / "profiles.yml",
        ),
        execution=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(),
            # the build's retry only skips (Cosmos never runs a second whole build): no wait
            setup_operator_args={"retry_delay": PRODUCER_RETRY_DELAY},
        ),
        render=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if use_manifest else LoadMode.DBT_LS,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=False,
            node_converters=dict.fromkeys(cosmos_watcher.BUILT, cosmos_watcher.build_sensor),
            emit_datasets=False,
        ),
        # the daily job: data tests, not unit tests (ingest/dbt.py)
        operator_args={"append_env": True, "dbt_cmd_flags": list(DAILY_FLAGS)},
    )


def report_after_build(group: TaskGroup) -> None:
    """Start the watcher group's per-model tasks once its `dbt build` task has ended.

    Cosmos starts them beside the build, waiting on its results. `airflow dags test` runs one
    task at a time, in no set order: a model's task run before the build would wait forever.
    After it, each finds its result at once. `none_failed`: when the build fails (a model or a
    test did), its retry ends it as skipped, and the per-model tasks must still run, to fail
    where dbt failed and retry that model alone; a failed ingest still stops them.
    """
    from airflow.sdk import TriggerRule
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID

    producer = group.get_child_by_label(PRODUCER_WATCHER_TASK_ID)
    for task in list(group.get_roots()):
        if task is not producer:
            producer >> task
            task.trigger_rule = TriggerRule.NONE_FAILED
