"""The persons generator and the faker loader's record checks: pure functions, no server."""

from __future__ import annotations

from datetime import date

from ingest.generators import persons
from ingest.loaders.faker import person_problem

DAY = date(2022, 10, 5)


def test_same_seed_and_day_give_identical_output():
    assert persons.generate(DAY, seed=7) == persons.generate(DAY, seed=7)
    assert persons.generate(DAY, seed=7)[0] != persons.generate(DAY, seed=8)[0]


def test_manifest_counts_every_row():
    rows, manifest = persons.generate(DAY, scale=2, dirt_rate=0.2)
    assert manifest.counts["new"] == persons.daily_new(2)
    assert manifest.counts["rows"] == len(rows)
    versions = manifest.counts["new"] + manifest.counts["updated"] + manifest.counts["deleted"]
    assert len(rows) == versions + manifest.dirt["duplicate"]
    assert {"whitespace", "null_phone", "duplicate"} <= set(manifest.dirt)


def test_updates_and_deletions_refer_to_earlier_persons():
    earlier = {
        person["id"]
        for offset in range(1, persons.LOOKBACK_DAYS + 1)
        for _, person in persons.clean_versions(42, date.fromordinal(DAY.toordinal() - offset), 1)
    }
    changed = [p for kind, p in persons.clean_versions(42, DAY, 1) if kind != "new"]
    assert changed and all(person["id"] in earlier for person in changed)


def test_deleted_persons_are_never_updated():
    updated, deleted = set(), set()
    for offset in range(20):
        day = date.fromordinal(DAY.toordinal() + offset)
        for kind, person in persons.clean_versions(42, day, 1):
            {"updated": updated, "deleted": deleted}.get(kind, set()).add(person["id"])
    assert deleted and updated and not updated & deleted


def test_malformed_records_are_refused_with_a_reason():
    rows, manifest = persons.generate(DAY, dirt_rate=0.5)
    problems = [person_problem(row) for row in rows]
    refused = [problem for problem in problems if problem]
    assert len(refused) == manifest.dirt["malformed_id"] + manifest.dirt["malformed_age"] > 0
    assert all("is not a UUID" in p or "is not a whole number" in p for p in refused)
