"""The persons loader on the real servers: what lands and what is refused matches the manifest.

The day is late in 2022 and emptied afterwards, so other tests' builds never see it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest

from ingest.engines import fetch
from ingest.generators import persons
from ingest.landing import PERSONS
from ingest.loaders import Batch, land
from ingest.loaders.faker import load_persons

DAY = date(2022, 12, 20)
SCALE, DIRT = 0.2, 0.3
TARGETS = ["postgres", "clickhouse"]
REASONS = {"malformed_id": "is not a UUID", "malformed_age": "is not a whole number"}


def landed(target: str, settings) -> dict[str, list[tuple]]:
    """Every content column of the day's persons and rejects, sorted."""
    found = {}
    for table in (PERSONS, PERSONS.rejects):
        sql = (
            f"select {', '.join(table.columns)} from {table.qualified}"  # noqa: S608 - constants
            " where _batch_date = %(day)s"
        )
        found[table.name] = sorted(map(str, fetch(target, settings, sql, {"day": DAY})))
    return found


@pytest.fixture
def clean(dwh):
    yield dwh
    for target in TARGETS:
        land(target, dwh, DAY, [Batch(PERSONS, [], [])])


@pytest.mark.parametrize("target", TARGETS)
def test_persons_land_with_their_malformed_records_rejected(clean, target):
    _, manifest = persons.generate(DAY, scale=SCALE, dirt_rate=DIRT)
    refused = {kind: manifest.dirt[kind] for kind in REASONS}
    assert all(refused.values()), "the day must exercise every kind of refused record"
    result = load_persons(DAY, target, clean, scale=SCALE, dirt_rate=DIRT)
    assert result.loaded == manifest.counts["rows"] - sum(refused.values())
    assert result.rejected == sum(refused.values())
    sql = "select reason, origin from raw_faker.persons_rejects where _batch_date = %(day)s"
    rejects = fetch(target, clean, sql, {"day": DAY})
    reasons = Counter(
        kind for reason, _ in rejects for kind, text in REASONS.items() if reason.endswith(text)
    )
    assert reasons == refused
    assert all(origin.startswith(f"faker:persons:{DAY.isoformat()}#") for _, origin in rejects)
    before = landed(target, clean)
    assert len(before["persons"]) == result.loaded
    load_persons(DAY, target, clean, scale=SCALE, dirt_rate=DIRT)
    assert landed(target, clean) == before  # a second run changes nothing


def refused(dirt_rate: float) -> int:
    _, manifest = persons.generate(DAY, scale=SCALE, dirt_rate=dirt_rate)
    return sum(manifest.dirt[kind] for kind in REASONS)


def test_the_cli_takes_the_dirt_rate(clean):
    command = [sys.executable, "-m", "ingest.cli", "ingest", "faker", "--target", "postgres"]
    options = [*command, "--date", DAY.isoformat(), "--scale", str(SCALE), "--dirt-rate"]
    for rate in (0, DIRT):
        done = subprocess.run([*options, str(rate)], capture_output=True, text=True, env=os.environ)
        assert done.returncode == 0, done.stderr
        [line] = [
            line for line in done.stdout.splitlines() if line.startswith("raw_faker.persons:")
        ]
        assert line.endswith(f" {refused(rate)} rejected")
    assert refused(DIRT) > 0
    wrong = subprocess.run([*options, "3"], capture_output=True, text=True, env=os.environ)
    assert wrong.returncode == 2 and "3 is not between 0 and 1" in wrong.stderr
