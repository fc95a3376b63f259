"""Payments (DATA_CONTRACTS.md §4): the payment service's messages on `transaction-service-input`.

A day brings one CURRENCY message per currency pair (every code against 420 = USD) and, per
operation, one TRANSACTION message per status change: queued -> in_progress -> done, a few
operations charged back after done and a few stuck in progress. Messages are published in
`sent_dttm` order; every message of a day is sent within that day (UTC), its Kafka timestamp is
its `sent_dttm` and its key is its `object_id` (the operation id), so an operation's messages
share a partition and keep their order.

Kafka is append-only, so publishing is made idempotent with a marker per (topic, day) on the
marker topic: a published day is skipped, and a day whose publication was interrupted resumes
without duplicating what already reached the broker (see `publish_day`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random

from tqdm import tqdm

from ingest import topics
from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, Manifest, rng_for
from ingest.loaders import RefusedError
from ingest.settings import Settings

TOPIC = "transaction-service-input"
OPERATIONS_PER_DAY = 2000
USD = 420
# currency code -> units of USD for one unit (around this, a little noise per day)
BASE_RATES = {410: 0.93, 430: 1.12, 440: 0.0165, 450: 0.0029, 460: 0.138, 470: 1.05}
# transaction currencies: USD most often
CURRENCY_WEIGHTS = {USD: 40, 410: 20, 430: 15, 440: 10, 450: 5, 460: 5, 470: 5}
COUNTRIES = ("russia", "usa", "germany", "uk", "kazakhstan", "turkey", "uae")
# transaction type -> sign of the amount (outgoing money is negative)
TRANSACTION_TYPES = {
    "sbp_incoming": 1,
    "sbp_outgoing": -1,
    "transfer_incoming": 1,
    "transfer_outgoing": -1,
    "c2a_incoming": 1,
    "c2b_partner_incoming": 1,
    "authorisation": -1,
}
STATUSES = ("queued", "in_progress", "done", "chargeback")
UNKNOWN_STATUSES = ("processing", "pending", "on_hold")
TEST_ACCOUNT_SHARE = 0.03
STUCK_SHARE = 0.02  # never leave in_progress
CHARGEBACK_SHARE = 0.03  # done, then charged back
DAY_SECONDS = 86_400

# Dirt kinds. The first four land as-is for dbt staging to clean; the last two are rejected.
DUPLICATE = "duplicate"  # the same message sent twice (same key, value and timestamp)
WHITESPACE = "whitespace"  # stray spaces/tabs in a string value, a newline after the JSON
NULL = "null"  # country or transaction_type is null
UNKNOWN_STATUS = "unknown_status"  # an in_progress message with a status nobody knows
MALFORMED_JSON = "malformed_json"  # the JSON text cut short
NOT_UTF8 = "not_utf8"  # the message encoded in cp1251, not UTF-8
REJECTED_DIRT = (MALFORMED_JSON, NOT_UTF8)
CURRENCY_DIRT = (DUPLICATE, WHITESPACE)
TRANSACTION_DIRT = (DUPLICATE, WHITESPACE, NULL, UNKNOWN_STATUS, MALFORMED_JSON, NOT_UTF8)


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record as the payment service would send it."""

    key: bytes
    value: bytes
    timestamp_ms: int


def operations(scale: float) -> int:
    return max(1, round(OPERATIONS_PER_DAY * scale))


def _stamp(day: date, second: int, sep: str = "T") -> str:
    moment = datetime.combine(day, time()) + timedelta(seconds=second)
    return moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def _epoch_ms(day: date, second: int) -> int:
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return (int(midnight.timestamp()) + second) * 1000


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rate(seed: int, day: date, code: int) -> float:
    """Units of USD for one unit of `code` on `day`: the base rate within +-2 %."""
    noise = rng_for(seed, "rate", day, code).uniform(-0.02, 0.02)
    return round(BASE_RATES[code] * (1 + noise), 6)


def currency_messages(seed: int, day: date) -> Iterator[tuple[int, dict]]:
    """(second of the day, message) for each currency pair, sent in the first minutes."""
    rng = rng_for(seed, "currency", day)
    for code in BASE_RATES:
        second = rng.randrange(60, 600)
        yield (
            second,
            {
                "object_id": _uuid(rng),
                "object_type": "CURRENCY",
                "sent_dttm": _stamp(day, second),
                "payload": {
                    "date_update": _stamp(day, 0, " "),
                    "currency_code": code,
                    "currency_code_with": USD,
                    "currency_with_div": rate(seed, day, code),
                },
            },
        )


def _account(rng: Random) -> int:
    number = rng.randrange(1_000_000, 10_000_000)
    return -number if rng.random() < TEST_ACCOUNT_SHARE else number


def _status_times(rng: Random, start: int, statuses: list[str]) -> list[int]:
    """Seconds of the day of each status change: strictly increasing, all within the day."""
    delays = {"in_progress": (1, 5), "done": (1, 120), "chargeback": (600, 3 * 3600)}
    times = [start]
    for status in statuses[1:]:
        times.append(times[-1] + rng.randint(*delays[status]))
    for k in reversed(range(len(times))):  # pull the tail back into the day, keeping order
        times[k] = min(times[k], DAY_SECONDS - 1 - (len(times) - 1 - k))
    return times


def operation_messages(rng: Random, day: date, start: int) -> list[tuple[int, dict]]:
    """(second of the day, message) for every status change of one operation."""
    operation_id = _uuid(rng)
    transaction_type = rng.choice(list(TRANSACTION_TYPES))
    amount = round(min(rng.lognormvariate(7, 1.3), 1_000_000), 2)
    body = {
        "operation_id": operation_id,
        "account_number_from": _account(rng),
        "account_number_to": _account(rng),
        "currency_code": rng.choices(list(CURRENCY_WEIGHTS), list(CURRENCY_WEIGHTS.values()))[0],
        "country": rng.choice(COUNTRIES),
        "status": None,
        "transaction_type": transaction_type,
        "amount": amount * TRANSACTION_TYPES[transaction_type],
        "transaction_dt": _stamp(day, start, " "),
    }
    fate = rng.random()
    statuses = ["queued", "in_progress"]
    if fate >= STUCK_SHARE:
        statuses.append("done")
        if fate < STUCK_SHARE + CHARGEBACK_SHARE:
            statuses.append("chargeback")
    found = []
    for status, second in zip(statuses, _status_times(rng, start, statuses), strict=True):
        message = {
            "object_id": operation_id,
            "object_type": "TRANSACTION",
            "sent_dttm": _stamp(day, second),
            "payload": {**body, "status": status},
        }
        found.append((second, message))
    return found


def clean_messages(seed: int, day: date, scale: float) -> Iterator[tuple[int, dict]]:
    """(second of the day, message) for the whole day in send order, before dirt.

    Operations start evenly spread over the day; their later status changes wait in a heap
    until every message sent before them has been yielded, so memory stays bounded.
    """
    count = operations(scale)
    rng = rng_for(seed, "operations", day)
    pending: list[tuple[int, int, dict]] = []
    sequence = 0
    for second, message in currency_messages(seed, day):
        heapq.heappush(pending, (second, sequence, message))
        sequence += 1
    spacing = (DAY_SECONDS - 10) / count
    for index in range(count):
        start = int((index + rng.random()) * spacing)
        while pending and pending[0][0] < start:
            second, _, message = heapq.heappop(pending)
            yield second, message
        for second, message in operation_messages(rng, day, start):
            heapq.heappush(pending, (second, sequence, message))
            sequence += 1
    while pending:
        second, _, message = heapq.heappop(pending)
        yield second, message


def _encode(message: dict) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()


def _dirty(rng: Random, kind: str, message: dict) -> list[bytes]:
    """The encoded message(s) with `kind` of dirt injected."""
    if kind == DUPLICATE:
        return [_encode(message)] * 2
    body = dict(message["payload"])
    dirty = {**message, "payload": body}
    if kind == WHITESPACE:
        if message["object_type"] == "TRANSACTION":
            field = rng.choice(("status", "country", "transaction_type", "operation_id"))
            body[field] = rng.choice((" ", "  ", "\t")) + body[field] + rng.choice((" ", "\t "))
        return [_encode(dirty) + b"\n"]
    if kind == NULL:
        body[rng.choice(("country", "transaction_type"))] = None
        return [_encode(dirty)]
    if kind == UNKNOWN_STATUS:
        body["status"] = rng.choice(UNKNOWN_STATUSES)
        return [_encode(dirty)]
    if kind == MALFORMED_JSON:
        text = _encode(message)
        return [text[: rng.randrange(1, len(text) - 1)]]
    if kind == NOT_UTF8:
        body["country"] = "Россия"
        return [json.dumps(dirty, ensure_ascii=False).encode("cp1251")]
    raise ValueError(f"unknown dirt kind {kind!r}")


def messages(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    manifest: Manifest | None = None,
) -> Iterator[Message]:
    """The day's Kafka records with dirt injected at `dirt_rate`; counts go into `manifest`.

    `manifest.counts`: clean `currency` and `transaction` messages, `operations`, and
    `messages` (records produced, duplicates included). `manifest.dirt`: injections by kind.
    Only an in_progress message can get an unknown status: whether an operation ends done
    (what the marts count) never depends on that kind of dirt.
    """
    manifest = manifest if manifest is not None else Manifest(day)
    manifest.counts["operations"] += operations(scale)
    dirt = rng_for(seed, "dirt", day)
    for second, message in clean_messages(seed, day, scale):
        kind = message["object_type"]
        manifest.counts[kind.lower()] += 1
        values = [_encode(message)]
        if dirt.random() < dirt_rate:
            choices = CURRENCY_DIRT if kind == "CURRENCY" else TRANSACTION_DIRT
            if message["payload"].get("status") != "in_progress":
                choices = tuple(c for c in choices if c != UNKNOWN_STATUS)
            injected = dirt.choice(choices)
            values = _dirty(dirt, injected, message)
            manifest.dirt[injected] += 1
        key = message["object_id"].encode()
        for value in values:
            manifest.counts["messages"] += 1
            yield Message(key, value, _epoch_ms(day, second))


def generate(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> tuple[list[Message], Manifest]:
    """The day's records and manifest, in memory (tests and small scales)."""
    manifest = Manifest(day)
    found = list(messages(day, seed, scale, dirt_rate, manifest))
    return found, manifest


def expected_landing(manifest: Manifest) -> tuple[int, int]:
    """(rows landed, rows rejected) a loader must produce for this manifest."""
    rejected = sum(manifest.dirt[kind] for kind in REJECTED_DIRT)
    return manifest.counts["messages"] - rejected, rejected


# --- publishing -------------------------------------------------------------------------------


class AlreadyPublished(RefusedError):
    """The day is on the topic already, generated with other parameters (the CLI says so)."""


def _manifest_to_json(manifest: Manifest) -> dict:
    return {
        "day": manifest.day.isoformat(),
        "counts": dict(manifest.counts),
        "dirt": dict(manifest.dirt),
    }


def _manifest_from_json(data: dict) -> Manifest:
    return Manifest(date.fromisoformat(data["day"]), Counter(data["counts"]), Counter(data["dirt"]))


def _fingerprint(message: Message) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in (message.key, message.value, str(message.timestamp_ms).encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _already_sent(settings: Settings, topic: str, since: dict[str, int]) -> Counter:
    """Fingerprints of the records on `topic` after the offsets `since` (an interrupted run)."""
    start = {int(partition): offset for partition, offset in since.items()}
    return Counter(
        _fingerprint(Message(record.key, record.value, record.timestamp))
        for record in topics.read_range(settings, topic, start)
    )


def publish_day(
    day: date,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    topic: str = TOPIC,
) -> Manifest:
    """Publish the day's messages to `topic` once; return the day's manifest.

    A marker `<topic>/<day>` on the marker topic says `started` (with the end offsets before the
    first record) and then `complete` (with the manifest). A complete day is skipped. A started
    day resumes: the records already on the topic since those offsets are not sent again, so an
    interrupted `dwh generate` never duplicates. A day published with other parameters raises
    AlreadyPublished. The topic is created (partitions, unlimited retention) if missing.
    """
    params = {"seed": seed, "scale": scale, "dirt_rate": dirt_rate}
    topics.ensure_topic(settings, topic)
    key = f"{topic}/{day.isoformat()}"
    marker = topics.read_markers(settings).get(key)
    ends = topics.end_offsets(settings, topic)
    if marker and any(ends.get(int(p), 0) < end for p, end in marker["end_offsets"].items()):
        marker = None  # the topic was recreated since: its records are gone
    if marker and {name: marker[name] for name in params} != params:
        raise AlreadyPublished(
            f"{key} was published with {', '.join(f'{k}={marker[k]}' for k in params)}; Kafka is "
            f"append-only, so to publish other data for that day delete the topic {topic!r} first"
        )
    if marker and marker["state"] == "complete":
        return _manifest_from_json(marker["manifest"])
    if marker:  # interrupted: skip what reached the broker
        since = marker["start_offsets"]
        sent = _already_sent(settings, topic, since)
    else:
        since = {str(p): end for p, end in ends.items()}
        sent = Counter()
        topics.write_marker(
            settings,
            key,
            {**params, "state": "started", "start_offsets": since, "end_offsets": since},
        )
    manifest = Manifest(day)
    failures: list[Exception] = []
    out = topics.producer(settings)
    try:
        estimate = round(operations(scale) * 3.05) + len(BASE_RATES)
        progress = tqdm(
            messages(day, seed, scale, dirt_rate, manifest),
            total=estimate,
            desc=f"{topic} {day}",
            unit="msg",
            disable=None,  # only on a terminal
            leave=False,
        )
        for message in progress:
            if sent:
                fingerprint = _fingerprint(message)
                if sent[fingerprint]:
                    sent[fingerprint] -= 1
                    continue
            future = out.send(
                topic, key=message.key, value=message.value, timestamp_ms=message.timestamp_ms
            )
            future.add_errback(failures.append)
        out.flush()
    finally:
        out.close()
    if failures:  # the marker stays `started`: the next run resumes
        raise RuntimeError(
            f"{len(failures)} records of {key} were not accepted by the broker: {failures[0]!r}"
        )
    topics.write_marker(
        settings,
        key,
        {
            **params,
            "state": "complete",
            "start_offsets": since,
            "end_offsets": {str(p): end for p, end in topics.end_offsets(settings, topic).items()},
            "manifest": _manifest_to_json(manifest),
        },
    )
    return manifest
