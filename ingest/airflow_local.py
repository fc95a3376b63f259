"""Run the `airflow` CLI with this project's configuration: `python -m ingest.airflow_local ARGS`.

`make airflow` and `make dag-test` go through here so Airflow always sees the same settings:
AIRFLOW_HOME in the repo's git-ignored `.airflow/` (or `$AIRFLOW_HOME` when set, as tests do),
the repo's `dags/`, no example DAGs, no Cosmos telemetry, the API server on 127.0.0.1 with the
simple auth manager (its password is generated into AIRFLOW_HOME, never committed), the dbt docs
in the UI, and Airflow connections built from the `DWH_*` settings in the environment only (no
secret is written to a file or the metadata DB). It also makes the manifests the DAGs render
from (`dbt parse`) when they are missing or stale, and the metadata DB before `airflow dags`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from ingest import settings as settings_module
from ingest.dbt import run_dbt
from ingest.settings import REPO_ROOT, Settings

DEFAULT_PORT = "8080"


def airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def airflow_home(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("AIRFLOW_HOME") or REPO_ROOT / ".airflow")


def connections(settings: Settings) -> dict[str, str]:
    """`AIRFLOW_CONN_DWH_*`: the warehouse's servers as Airflow connections, for hooks and UI tools.

    The warehouse's own tasks read `DWH_*` directly; these exist so any Airflow operator can
    reach the same servers. Environment only: never stored.
    """

    def conn(**fields: object) -> str:
        return json.dumps({key: value for key, value in fields.items() if value not in ("", None)})

    found = {
        "AIRFLOW_CONN_DWH_POSTGRES": conn(
            conn_type="postgres",
            host=settings["DWH_PG_HOST"],
            port=settings.port("DWH_PG_PORT"),
            login=settings["DWH_PG_USER"],
            password=settings["DWH_PG_PASSWORD"],
            schema=settings["DWH_PG_DATABASE"],
        ),
        "AIRFLOW_CONN_DWH_CLICKHOUSE": conn(
            conn_type="http",
            host=settings["DWH_CH_HOST"],
            port=settings.port("DWH_CH_PORT"),
            login=settings["DWH_CH_USER"],
            password=settings["DWH_CH_PASSWORD"],
            extra={"native_port": settings.port("DWH_CH_NATIVE_PORT")},
        ),
        "AIRFLOW_CONN_DWH_S3": conn(
            conn_type="aws",
            login=settings["DWH_S3_ACCESS_KEY"],
            password=settings["DWH_S3_SECRET_KEY"],
            extra={
                "endpoint_url": settings["DWH_S3_ENDPOINT"],
                "region_name": settings["DWH_S3_REGION"],
            },
        ),
        "AIRFLOW_CONN_DWH_KAFKA": conn(
            conn_type="kafka", extra={"bootstrap.servers": settings["DWH_KAFKA_BOOTSTRAP"]}
        ),
    }
    if settings["DWH_VERTICA_HOST"]:
        found["AIRFLOW_CONN_DWH_VERTICA"] = conn(
            conn_type="vertica",
            host=settings["DWH_VERTICA_HOST"],
            port=settings.port("DWH_VERTICA_PORT"),
            login=settings["DWH_VERTICA_USER"],
            password=settings["DWH_VERTICA_PASSWORD"],
            schema=settings["DWH_VERTICA_DATABASE"],
        )
    return found


def airflow_env(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for `airflow`: the settings, our Airflow config, the connections.

    An `AIRFLOW__*` variable already in `environ` wins over our default for it.
    """
    environ = dict(os.environ if environ is None else environ)
    home = airflow_home(environ)
    port = environ.get("AIRFLOW__API__PORT", DEFAULT_PORT)
    docs = {
        "warehouse": {"dir": str(settings.dbt_project_dir / "target" / "docs"), "name": "dbt docs"}
    }
    config = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # rendering falls back to `dbt ls` when the manifest is stale: give it time
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        # dbt tasks are processes of a few hundred MB each: a laptop runs a handful at once
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": port,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        # how workers reach the API server ("localhost" may resolve to ::1, where nothing listens)
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # The watcher's build keeps each model's result for its retry when it fails (its failure
        # and retry callbacks save them); "reliable" would also rewrite all of them to a Variable
        # at every result: a third slower here. Without the copy, a build killed outright
        # leaves its retry nothing to report, and each model's task then builds it alone.
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        # Cosmos's caches (dbt ls output, partial parse) per AIRFLOW_HOME, not a shared /tmp/cosmos
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "warehouse",
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": json.dumps(docs),
    }
    env = {**config, **environ, "AIRFLOW_HOME": str(home)}
    # `airflow standalone` starts its components as `airflow ...` from PATH
    env["PATH"] = os.pathsep.join([str(Path(airflow_executable()).parent), environ.get("PATH", "")])
    env.update(settings.as_env())
    env.update(connections(settings))
    return env


def ensure_manifests(settings: Settings) -> None:
    """`dbt parse` each DAG's target whose manifest is missing or older than the project."""
    from ingest import orchestration

    for target in orchestration.targets(settings):
        manifest = orchestration.manifest_path(target, settings)
        if orchestration.manifest_is_current(manifest, settings.dbt_project_dir):
            continue
        print(f"airflow_local: dbt parse --target {target} -> {manifest}", flush=True)
        run_dbt(
            ["parse", "--quiet", "--target-path", str(manifest.parent)],
            settings,
            target,
        )


def ensure_database(env: dict[str, str]) -> None:
    """Create or upgrade the metadata DB (a SQLite file in AIRFLOW_HOME unless configured).

    Once per Airflow version and AIRFLOW_HOME (a stamp file records it): `airflow db migrate`
    takes several seconds even when there is nothing to do.
    """
    stamp = Path(env["AIRFLOW_HOME"]) / f".db-migrated-{version('apache-airflow')}"
    if stamp.exists():
        return
    subprocess.run([airflow_executable(), "db", "migrate"], env=env, check=True)
    stamp.touch()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    settings = settings_module.load()
    env = airflow_env(settings)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    ensure_manifests(settings)
    if args[:1] == ["dags"]:
        ensure_database(env)
    os.execve(airflow_executable(), [airflow_executable(), *args], env)


if __name__ == "__main__":
    main()
