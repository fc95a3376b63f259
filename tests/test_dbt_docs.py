"""`dbt docs generate` on both engines (issue 4): it runs clean, and its catalog describes every
model of the manifest with exactly the columns its yml documents. A model the engine lacks, a
documented column the engine does not have, or a column nobody described fails here instead of
leaving a hole in the docs.

The catalog is about relations and columns, not rows: the models are built from whatever the
session's stack has landed, on landing tables created empty where missing (this file alone lands
nothing). Both engines run side by side, each with its own target path.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ingest import landing
from ingest.dbt import run_dbt
from ingest.settings import Settings
from ingest.sinks import connect
from ingest.sinks.stream import connect_stream

TARGETS = ["postgres", "clickhouse"]
# Warnings a clean run may still log, by dbt event name. UnusedResourceConfigPath: dbt_project.yml
# configures `seeds:` and the project has no seeds yet.
TOLERATED = {"UnusedResourceConfigPath"}


def create_landing_tables(target: str, settings: Settings) -> None:
    """Every landing table of ingest/landing.py, created empty unless it exists."""
    topics = list(landing.KAFKA_TOPICS.values())
    files = [
        table
        for table in vars(landing).values()
        if isinstance(table, landing.Table) and table not in topics
    ]
    sink = connect(target, settings)
    try:
        for table in files:
            sink.batch_dates(table)  # creates it first if needed
    finally:
        sink.close()
    stream = connect_stream(target, settings)
    try:
        for table in topics:
            stream.ensure(table)
    finally:
        stream.close()


@pytest.fixture(scope="module")
def generated(dwh: Settings, tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """target -> (`dbt docs generate`'s JSON log, its target path), every model built first."""
    folder = tmp_path_factory.mktemp("docs")

    def generate(target: str) -> tuple[str, Path]:
        create_landing_tables(target, dwh)
        target_path = ["--target-path", str(folder / target)]
        run_dbt(["run", "--quiet", "--full-refresh", *target_path], dwh, target)
        result = run_dbt(
            ["docs", "generate", "--log-format", "json", *target_path],
            dwh,
            target,
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"dbt docs generate on {target}:\n{result.stdout[-5000:]}"
        return result.stdout, folder / target

    with ThreadPoolExecutor(len(TARGETS)) as pool:
        return dict(zip(TARGETS, pool.map(generate, TARGETS), strict=True))


def warnings(output: str) -> list[str]:
    """The warning and error events of a dbt run's JSON log, as `name: message`."""
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [
        f"{event['info']['name']}: {event['info']['msg']}"
        for event in events
        if event["info"]["level"] in ("warn", "error") and event["info"]["name"] not in TOLERATED
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_docs_generate_logs_no_warning(generated, target):
    output, _ = generated[target]
    assert not warnings(output), "\n".join(warnings(output))


@pytest.mark.parametrize("target", TARGETS)
def test_the_catalog_has_every_model_with_its_documented_columns(generated, target):
    _, target_path = generated[target]
    manifest = json.loads((target_path / "manifest.json").read_text())
    catalog = json.loads((target_path / "catalog.json").read_text())
    models = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
    }
    assert models, "the manifest lists no model"
    missing = sorted(set(models) - set(catalog["nodes"]))
    assert not missing, f"models not in the {target} catalog (not built there?): {missing}"
    differences = {}
    for unique_id, node in models.items():
        columns = {name.lower() for name in catalog["nodes"][unique_id]["columns"]}
        documented = {name.lower() for name in node["columns"]}
        if columns != documented:
            differences[node["name"]] = {
                "documented, not on the engine": sorted(documented - columns),
                "on the engine, not documented": sorted(columns - documented),
            }
    assert not differences, f"the {target} catalog and the yml disagree: {differences}"
