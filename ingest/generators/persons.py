"""People (DATA_CONTRACTS.md §1): one record per person version, as the application exports it.

A day brings new persons, new versions of persons created in the previous week (a move to
another address, often another city) and soft deletions. Updated and deleted persons come from
disjoint groups, so a deleted person is never brought back by a later update.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from faker import Faker

from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, Manifest, rng_for

NEW_PER_DAY = 200
UPDATE_SHARE = 0.10
DELETE_SHARE = 0.03
LOOKBACK_DAYS = 7
# Persons whose index falls in this residue are the ones that may be deleted, never updated.
DELETABLE = 9

Person = dict[str, str | None]


def daily_new(scale: float) -> int:
    return max(1, round(NEW_PER_DAY * scale))


_FAKE = Faker("ru_RU")  # building a Faker is slow; re-seeding one is cheap


def _faker(seed: int, *parts: object) -> Faker:
    _FAKE.seed_instance(rng_for(seed, "faker", *parts).getrandbits(64))
    return _FAKE


def _moment(rng, day: date) -> datetime:
    return datetime.combine(day, time()) + timedelta(seconds=rng.randrange(86_400))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def base_person(seed: int, day: date, index: int) -> Person:
    """The first version of person `index` created on `day`."""
    rng = rng_for(seed, "person", day, index)
    fake = _faker(seed, "person", day, index)
    created = _stamp(_moment(rng, day))
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": fake.name(),
        "age": str(rng.randint(18, 99)),
        "address": fake.address(),
        "email": fake.email(),
        "phone_number": fake.phone_number(),
        "registration_date": day.isoformat(),
        "created_at": created,
        "updated_at": created,
        "deleted_at": None,
    }


def _earlier_person(seed: int, rng, day: date, scale: float, deletable: bool) -> Person:
    created_on = day - timedelta(days=rng.randint(1, LOOKBACK_DAYS))
    count = daily_new(scale)
    if count < 10:  # too few persons for the residue classes: take anyone
        return base_person(seed, created_on, rng.randrange(count))
    index = rng.randrange(count // 10) * 10
    index += DELETABLE if deletable else rng.randrange(DELETABLE)
    return base_person(seed, created_on, index)


def clean_versions(seed: int, day: date, scale: float) -> Iterator[tuple[str, Person]]:
    """(kind, record) for every person version of the day, before dirt."""
    count = daily_new(scale)
    for index in range(count):
        yield "new", base_person(seed, day, index)
    rng = rng_for(seed, "changes", day)
    for number in range(round(count * UPDATE_SHARE)):
        person = _earlier_person(seed, rng, day, scale, deletable=False)
        address = _faker(seed, "move", day, number).address()
        person.update(address=address, updated_at=_stamp(_moment(rng, day)))
        yield "updated", person
    for _ in range(round(count * DELETE_SHARE)):
        person = _earlier_person(seed, rng, day, scale, deletable=True)
        deleted = _stamp(_moment(rng, day))
        person.update(updated_at=deleted, deleted_at=deleted)
        yield "deleted", person


def generate(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> tuple[list[Person], Manifest]:
    """The day's export with dirt injected at `dirt_rate`, and its manifest.

    Dirt: exact duplicate records, stray whitespace, NULL phone numbers (all of which staging
    must clean), and malformed records (an id that is not a UUID, an age that is not a number)
    that the loader must send to rejects.
    """
    manifest = Manifest(day)
    rng = rng_for(seed, "dirt", day)
    rows: list[Person] = []
    for kind, person in clean_versions(seed, day, scale):
        manifest.counts[kind] += 1
        roll = rng.random()
        if roll < dirt_rate / 4:
            person["name"] = f"  {person['name']} "
            person["email"] = f"{person['email']}  "
            manifest.dirt["whitespace"] += 1
        elif roll < dirt_rate / 2:
            person["phone_number"] = None
            manifest.dirt["null_phone"] += 1
        elif roll < dirt_rate * 3 / 4:
            field, value = rng.choice([("id", "not-a-uuid"), ("age", "сорок")])
            person[field] = value
            manifest.dirt[f"malformed_{field}"] += 1
        elif roll < dirt_rate:
            rows.append(dict(person))
            manifest.dirt["duplicate"] += 1
        rows.append(person)
    manifest.counts["rows"] = len(rows)
    return rows, manifest
