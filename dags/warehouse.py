"""Airflow DAGs `warehouse_<engine>`: each day, ingest every source, then build it with dbt.

One DAG per engine (postgres, clickhouse, and vertica when DWH_VERTICA_HOST is set). Configuration
only: the callables and the Cosmos configs live in the installed `ingest` package
(ingest/orchestration.py). See docs/airflow.md.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, TaskGroup, dag, task
from cosmos import DbtTaskGroup

from ingest import orchestration

DAILY = CronTriggerTimetable("@daily", timezone="UTC")
DAY = orchestration.RUN_DATE  # the run's day, from its data interval


def warehouse(target: str) -> None:
    """One engine's DAG: the same steps on every engine, only the dbt target differs."""
    dbt = orchestration.cosmos_configs(target)

    @dag(
        dag_id=f"warehouse_{target}",
        description=f"Ingest and build the warehouse on {target}, one day per run",
        schedule=DAILY,
        start_date=orchestration.start_date(),
        end_date=orchestration.end_date(),
        catchup=True,
        max_active_runs=1,
        default_args=orchestration.default_args(),
        tags=["warehouse", target],
        doc_md=__doc__,
    )
    def pipeline() -> None:
        preflight = task(
            orchestration.preflight,
            task_id="preflight",
            retry_delay=orchestration.PREFLIGHT_RETRY_DELAY,
        )(target)

        with TaskGroup("ingest") as ingest:
            for source in orchestration.ingest_sources():
                task(orchestration.run_ingest, task_id=source)(source, target, DAY)

        transform = DbtTaskGroup(
            group_id="transform",
            project_config=dbt.project,
            profile_config=dbt.profile,
            execution_config=dbt.execution,
            render_config=dbt.render,
            operator_args=dbt.operator_args,
        )
        orchestration.report_after_build(transform)

        preflight >> ingest >> transform

    pipeline()


for engine in orchestration.targets():
    warehouse(engine)
