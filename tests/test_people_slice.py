"""The People slice end to end on the real servers: land, build with dbt, compare the engines."""

from __future__ import annotations

from datetime import date

import pytest

from ingest import pipeline
from ingest.dbt import run_dbt
from ingest.engines import fetch
from ingest.generators import persons
from ingest.loaders.faker import person_problem

DAYS = list(pipeline.days(date(2022, 10, 1), date(2022, 10, 3)))
MART = "select city, person_count from marts.person_count_by_city order by city"
PERSONS = (
    "select person_id, city, updated_at, is_deleted, _batch_date"
    " from staging.stg_faker__persons order by person_id"
)
# persons with a version on the day and a later one
UPDATED_LATER = """
    select count(distinct lower(trim(first.id)))
    from raw_faker.persons as first
    inner join raw_faker.persons as later
        on lower(trim(later.id)) = lower(trim(first.id)) and later._batch_date > first._batch_date
    where first._batch_date = %(day)s
"""
TARGETS = ["postgres", "clickhouse"]


@pytest.fixture(scope="module")
def built(dwh):
    for target in TARGETS:
        for day in DAYS:
            pipeline.ingest_faker(day, target, dwh)
        run_dbt(["build", "--quiet", "--select", "+person_count_by_city"], dwh, target)
    return dwh


@pytest.mark.parametrize("target", TARGETS)
def test_landing_matches_the_manifest(built, target):
    for day in DAYS:
        rows, manifest = persons.generate(day)
        malformed = manifest.dirt["malformed_id"] + manifest.dirt["malformed_age"]
        landed = fetch(
            target,
            built,
            "select count(*) from raw_faker.persons where _batch_date = %(day)s",
            {"day": day},
        )
        assert landed == [(len(rows) - malformed,)]


def test_marts_agree_across_engines(built):
    postgres = fetch("postgres", built, MART)
    assert postgres, "the mart is empty"
    assert [tuple(map(str, r)) for r in postgres] == [
        tuple(map(str, r)) for r in fetch("clickhouse", built, MART)
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_rerun_changes_nothing(built, target):
    before = fetch(target, built, MART)
    result = pipeline.ingest_faker(DAYS[1], target, built)[0]
    assert result.loaded > 0
    run_dbt(["build", "--quiet", "--select", "+person_count_by_city"], built, target)
    assert fetch(target, built, MART) == before


@pytest.mark.parametrize("target", TARGETS)
def test_a_backfill_of_the_first_day_keeps_later_versions(built, target):
    """stg_faker__persons is incremental by person: a run of the first day alone recomputes the
    persons exported that day from all their versions, so a later version still wins."""
    assert fetch(target, built, UPDATED_LATER, {"day": DAYS[0]})[0][0] > 0
    before = fetch(target, built, PERSONS), fetch(target, built, MART)
    run_dbt(
        ["build", "--quiet", "--select", "+person_count_by_city", "--vars", "{lookback_days: 0}"],
        built,
        target,
        run_date=DAYS[0].isoformat(),
    )
    assert (fetch(target, built, PERSONS), fetch(target, built, MART)) == before


def test_mart_counts_current_not_deleted_persons(built):
    """An independent recount in Python of what the mart must say."""
    latest: dict[str, dict] = {}
    for day in DAYS:
        for record in persons.generate(day)[0]:
            if person_problem(record):
                continue
            key = record["id"].strip().lower()
            if key not in latest or record["updated_at"] >= latest[key]["updated_at"]:
                latest[key] = record
    expected: dict[str, int] = {}
    for record in latest.values():
        if record["deleted_at"] is None:
            city = record["address"].split(",")[0].split(" ", 1)[1].strip()
            expected[city] = expected.get(city, 0) + 1
    assert dict(fetch("postgres", built, MART)) == expected


def test_vertica_parses_without_a_server(dwh):
    result = run_dbt(["parse", "--no-partial-parse"], dwh, "vertica", capture_output=True)
    assert result.returncode == 0, result.stdout.decode()
