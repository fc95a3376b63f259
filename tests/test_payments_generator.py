"""The payments generator (DATA_CONTRACTS.md §4): pure functions, no server."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime

from ingest.generators import payments

DAY = date(2022, 10, 3)
TRANSACTION_FIELDS = {
    "operation_id",
    "account_number_from",
    "account_number_to",
    "currency_code",
    "country",
    "status",
    "transaction_type",
    "amount",
    "transaction_dt",
}


def parsed(messages: list[payments.Message]) -> list[dict]:
    return [json.loads(message.value) for message in messages]


def test_same_seed_and_day_give_identical_output():
    first, manifest = payments.generate(DAY, seed=7, scale=0.2)
    again, manifest_again = payments.generate(DAY, seed=7, scale=0.2)
    assert first == again and manifest == manifest_again
    assert first != payments.generate(DAY, seed=8, scale=0.2)[0]
    assert first != payments.generate(date(2022, 10, 4), seed=7, scale=0.2)[0]


def test_clean_messages_have_the_contract_shape():
    messages, manifest = payments.generate(DAY, scale=0.3, dirt_rate=0)
    assert not manifest.dirt
    assert len(messages) == manifest.counts["messages"]
    midnight = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    stamps = []
    for message, body in zip(messages, parsed(messages), strict=True):
        assert set(body) == {"object_id", "object_type", "sent_dttm", "payload"}
        sent = datetime.strptime(body["sent_dttm"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        assert 0 <= (sent - midnight).total_seconds() < 86_400, "sent within the day"
        assert message.timestamp_ms == int(sent.timestamp() * 1000)
        assert message.key == body["object_id"].encode()
        stamps.append(message.timestamp_ms)
        if body["object_type"] == "CURRENCY":
            assert set(body["payload"]) == {
                "date_update",
                "currency_code",
                "currency_code_with",
                "currency_with_div",
            }
        else:
            assert body["object_type"] == "TRANSACTION"
            assert set(body["payload"]) == TRANSACTION_FIELDS
            assert body["payload"]["operation_id"] == body["object_id"]
    assert stamps == sorted(stamps), "published in sent_dttm order"


def test_one_rate_per_currency_pair_against_usd():
    bodies = [
        b for b in parsed(payments.generate(DAY, dirt_rate=0)[0]) if b["object_type"] == "CURRENCY"
    ]
    pairs = Counter(
        (b["payload"]["currency_code"], b["payload"]["currency_code_with"]) for b in bodies
    )
    assert pairs == Counter({(code, payments.USD): 1 for code in payments.BASE_RATES})
    for body in bodies:
        payload = body["payload"]
        assert payload["date_update"] == f"{DAY} 00:00:00"
        base = payments.BASE_RATES[payload["currency_code"]]
        assert abs(payload["currency_with_div"] / base - 1) <= 0.02


def test_each_operation_walks_the_status_sequence():
    bodies = [
        b
        for b in parsed(payments.generate(DAY, dirt_rate=0)[0])
        if b["object_type"] == "TRANSACTION"
    ]
    by_operation: dict[str, list[dict]] = defaultdict(list)
    for body in bodies:
        by_operation[body["payload"]["operation_id"]].append(body)
    assert len(by_operation) == payments.operations(1.0)
    endings = Counter()
    for versions in by_operation.values():
        statuses = [v["payload"]["status"] for v in versions]
        assert statuses in (
            ["queued", "in_progress"],
            ["queued", "in_progress", "done"],
            ["queued", "in_progress", "done", "chargeback"],
        )
        sent = [v["sent_dttm"] for v in versions]
        assert sent == sorted(sent) and len(set(sent)) == len(sent), "strictly later each time"
        fixed = [{k: v for k, v in v["payload"].items() if k != "status"} for v in versions]
        assert all(f == fixed[0] for f in fixed), "only the status changes"
        first = versions[0]["payload"]
        assert first["transaction_dt"] == sent[0].replace("T", " ")
        sign = payments.TRANSACTION_TYPES[first["transaction_type"]]
        assert first["amount"] * sign > 0, "outgoing amounts are negative"
        endings[statuses[-1]] += 1
    assert endings["done"] > endings["chargeback"] > 0 and endings["in_progress"] > 0
    accounts = [b["payload"]["account_number_from"] for b in bodies]
    assert any(a < 0 for a in accounts) and sum(a > 0 for a in accounts) > len(accounts) * 0.9


def test_scale_sets_the_number_of_operations():
    assert payments.operations(1.0) == payments.OPERATIONS_PER_DAY
    small = payments.generate(DAY, scale=0.1, dirt_rate=0)[1]
    large = payments.generate(DAY, scale=0.5, dirt_rate=0)[1]
    assert small.counts["operations"] * 5 == large.counts["operations"]
    assert large.counts["transaction"] >= 2 * large.counts["operations"]


def classify(messages: list[payments.Message]) -> Counter:
    """Which dirt each message carries, found by looking at it (not from the generator)."""
    found: Counter = Counter()
    previous = None
    for message in messages:
        if message == previous:
            found[payments.DUPLICATE] += 1
        previous = message
        try:
            text = message.value.decode()
        except UnicodeDecodeError:
            found[payments.NOT_UTF8] += 1
            continue
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            found[payments.MALFORMED_JSON] += 1
            continue
        payload = body["payload"]
        strings = [v for v in payload.values() if isinstance(v, str)]
        if text.endswith("\n") or any(v != v.strip() for v in strings):
            found[payments.WHITESPACE] += 1
        if body["object_type"] == "TRANSACTION":
            if payload["country"] is None or payload["transaction_type"] is None:
                found[payments.NULL] += 1
            if payload["status"].strip() not in payments.STATUSES:
                found[payments.UNKNOWN_STATUS] += 1
    return found


def test_manifest_says_exactly_which_dirt_was_injected():
    messages, manifest = payments.generate(DAY, scale=0.5, dirt_rate=0.2)
    assert len(messages) == manifest.counts["messages"]
    assert set(manifest.dirt) == set(payments.TRANSACTION_DIRT), "every kind occurs"
    assert classify(messages) == manifest.dirt
    clean = manifest.counts["currency"] + manifest.counts["transaction"]
    assert len(messages) == clean + manifest.dirt[payments.DUPLICATE]
    landed, rejected = payments.expected_landing(manifest)
    assert rejected == manifest.dirt[payments.MALFORMED_JSON] + manifest.dirt[payments.NOT_UTF8]
    assert landed + rejected == len(messages)


def test_default_dirt_is_a_few_percent():
    messages, manifest = payments.generate(DAY)
    share = sum(manifest.dirt.values()) / len(messages)
    assert 0.01 < share < 0.06


def test_dirt_never_decides_whether_an_operation_is_done():
    """Unknown statuses replace only in_progress, never done or chargeback (what marts count)."""

    def done(messages: list[payments.Message]) -> tuple[dict[bytes, bool], set[bytes]]:
        latest: dict[bytes, tuple[str, str]] = {}
        unreadable = set()
        for message in messages:
            try:
                body = json.loads(message.value.decode())
            except (UnicodeDecodeError, json.JSONDecodeError):
                unreadable.add(message.key)
                continue
            status = (body["payload"].get("status") or "").strip()
            newer = body["sent_dttm"] >= latest.get(message.key, ("", ""))[0]
            if status in payments.STATUSES and newer:
                latest[message.key] = (body["sent_dttm"], status)
        return {key: status == "done" for key, (_, status) in latest.items()}, unreadable

    clean, _ = done(payments.generate(DAY, scale=0.5, dirt_rate=0)[0])
    dirty, unreadable = done(payments.generate(DAY, scale=0.5, dirt_rate=0.3)[0])
    comparable = [key for key in clean if key not in unreadable]
    assert len(comparable) > 0.5 * len(clean)
    assert all(dirty[key] == clean[key] for key in comparable)
