"""One Airflow task per dbt model in Cosmos's watcher mode: the model, then its tests.

In watcher mode one task runs a single `dbt build` and a sensor per node reports its result.
Cosmos offers a sensor for the model and another for its tests (two tasks per model, each with
Airflow's fixed cost of a task), and refuses `TestBehavior.BUILD` in this mode. This sensor
is both: it passes when dbt built the model and every test on it passed, and on a retry it runs
`dbt build --select <model>` (the model and its tests) on its own, like the tasks of the
local mode did. The DAGs use it through `node_converters` (ingest/orchestration.py).

It reads the build's results under Cosmos's own XCom keys, through Cosmos's helpers (private
modules of astronomer-cosmos 1.15: an upgrade that moves them fails at import, not silently).
Imported only by the DAG files' configuration: it imports Airflow and Cosmos.
"""

from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowException
from cosmos.constants import DbtResourceType
from cosmos.dbt.graph import DbtNode
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import (
    get_status_xcom_key,
    get_xcom_val,
    is_dbt_node_status_success,
)
from cosmos.operators.watcher import DbtConsumerWatcherSensor

# What dbt builds and the watcher reports on, each node as one task of this sensor.
BUILT = (DbtResourceType.MODEL, DbtResourceType.SEED, DbtResourceType.SNAPSHOT)
PASSED = "pass"  # the build's aggregate of a node's tests: "pass" or "fail"


class DbtBuildWatcherSensor(DbtConsumerWatcherSensor):
    """A node's part of the producer's `dbt build`: it, then its tests; alone on a retry."""

    base_cmd = ["build"]  # what a retry runs on this node: it, then its tests

    def __init__(self, *, has_tests: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.has_tests = has_tests
        self.built_alone = False

    def _fallback_to_non_watcher_run(self, try_number: int, context: Any) -> bool:
        built = super()._fallback_to_non_watcher_run(try_number, context)
        self.built_alone = True  # a failure of its own build has raised: node and tests passed
        return built

    def _check_tests(self, context: Any) -> None:
        """Fail unless every test on the node passed in the producer's build."""
        if self.built_alone or not self.has_tests:
            return
        key = get_tests_status_xcom_key(self.model_unique_id)
        status = get_xcom_val(context["ti"], self.producer_task_id, key)
        if status == PASSED:
            return
        found = "failed" if status else "reported no result"
        raise AirflowException(
            f"the tests of {self.model_unique_id} {found} in the build: see the log of "
            f"'{self.producer_task_id}'. A retry builds this node and runs its tests alone."
        )

    def _passed(self, context: Any) -> bool:
        """Whether the build reported the node and its tests passed: one read, the common case.

        dbt runs a node's tests only once the node is built, so tests that passed say both; a
        node without tests has its own status read instead. Cosmos's poke also reads the build
        task's state, its dbt version events, the node's dbt event and compiled SQL (four more
        calls to Airflow's API, a third of the task); it still decides every other case.
        """
        if self.has_tests:
            key = get_tests_status_xcom_key(self.model_unique_id)
            return get_xcom_val(context["ti"], self.producer_task_id, key) == PASSED
        key = get_status_xcom_key(self.model_unique_id)
        reported = get_xcom_val(context["ti"], self.producer_task_id, key) or {}
        return is_dbt_node_status_success(reported.get("status"))

    def execute(self, context: Any, **kwargs: Any) -> None:
        self.built_alone = False  # `airflow dags test` runs every try on the same object
        super().execute(context, **kwargs)

    def poke(self, context: Any) -> bool:
        if context["ti"].try_number == 1 and self._passed(context):
            return True
        if not super().poke(context):  # raises if the node failed
            return False
        self._check_tests(context)
        return True

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        super().execute_complete(context, event)  # after a deferral: the node's own result
        self._check_tests(context)


def build_sensor(
    *, dag: Any, task_group: Any, node: DbtNode, task_args: dict[str, Any], task_id: str, **_: Any
) -> DbtBuildWatcherSensor:
    """Cosmos `node_converters` entry: the node's task, with the arguments Cosmos would give."""
    return DbtBuildWatcherSensor(
        task_id=task_id,
        dag=dag,
        task_group=task_group,
        extra_context={"dbt_node_config": node.context_dict, "package_name": node.package_name},
        has_tests=node.has_test,
        **task_args,
    )
