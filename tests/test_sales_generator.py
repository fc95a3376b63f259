"""The sales generator (DATA_CONTRACTS.md §2): pure functions, no server."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from ingest.generators import sales
from ingest.landing import S3_FILES

DAY = date(2022, 10, 5)
NAMES = ("first_name", "last_name", "city_name", "item_name")


def rows(data: bytes) -> list[dict[str, str]]:
    """A clean file's lines as dicts (the csv module is fine for lines without dirt)."""
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.fixture(scope="module")
def clean():
    return sales.generate(DAY, scale=0.3, dirt_rate=0, old_layout=False)


@pytest.fixture(scope="module")
def dirty():
    return sales.generate(DAY, scale=0.3, dirt_rate=0.3, old_layout=False)


def test_same_seed_and_day_give_identical_bytes():
    assert sales.generate(DAY, seed=7, scale=0.1) == sales.generate(DAY, seed=7, scale=0.1)
    assert sales.generate(DAY, seed=7, scale=0.1)[0] != sales.generate(DAY, seed=8, scale=0.1)[0]
    other_day = sales.generate(DAY + timedelta(days=1), seed=7, scale=0.1)[0]
    assert (
        other_day["user_order_log.csv"]
        != sales.generate(DAY, seed=7, scale=0.1)[0]["user_order_log.csv"]
    )


def test_files_have_the_contract_headers(clean):
    files, _ = clean
    assert set(files) == set(S3_FILES)
    for name, data in files.items():
        assert data.split(b"\n", 1)[0].decode() == ",".join(S3_FILES[name].columns)
        assert data.endswith(b"\n")


def test_scale_one_is_thousands_of_order_lines_a_day():
    volumes = [sales.order_lines(42, DAY + timedelta(days=n), 1) for n in range(14)]
    assert all(2000 <= volume <= 5000 for volume in volumes)
    assert sales.order_lines(42, DAY, 100) > 100 * min(volumes) * 0.7


def test_manifest_counts_every_line(dirty):
    files, manifest = dirty
    for name, data in files.items():
        lines = data.count(b"\n") - 1
        assert manifest.counts[name] == lines
        duplicates = manifest.dirt[f"{name}:duplicate"]
        assert manifest.counts[f"{name}:clean"] + duplicates == lines
    clean = sum(manifest.counts[f"{name}:clean"] for name in files)
    assert clean == sales.expected_lines(DAY, scale=0.3)  # the progress bar's total
    orders = manifest.counts["user_order_log.csv:clean"]
    shipped = manifest.counts["user_order_log.csv:shipped"]
    assert shipped + manifest.counts["user_order_log.csv:refunded"] == orders


def test_every_kind_of_dirt_is_injected_and_counted(dirty):
    _, manifest = dirty
    kinds = {key.split(":")[1] for key, count in manifest.dirt.items() if count}
    assert set(sales.REJECTED_KINDS) | set(sales.LANDED_KINDS) <= kinds
    for name in ("user_order_log.csv", "user_activity_log.csv"):  # the small files get a few
        for kind in sales.FILES[name].kinds:
            assert manifest.dirt[f"{name}:{kind}"] > 0, (name, kind)


def test_no_dirt_at_rate_zero(clean):
    files, manifest = clean
    assert not +manifest.dirt
    orders = rows(files["user_order_log.csv"])
    assert len({row["uniq_id"] for row in orders}) == len(orders)
    for row in orders:
        assert all(value == value.strip() and value for value in row.values())


def test_duplicates_reuse_the_uniq_id_and_repeat_the_line(dirty):
    files, manifest = dirty
    lines = files["user_order_log.csv"].decode().splitlines()[1:]
    by_uniq_id = defaultdict(list)
    for line in lines:
        by_uniq_id[line.split(",")[1]].append(line)
    repeated = {key: found for key, found in by_uniq_id.items() if len(found) > 1}
    assert len(repeated) == manifest.dirt["user_order_log.csv:duplicate"] > 0
    assert all(len(set(found)) == 1 for found in repeated.values())


def test_dimensions_are_stable_across_days():
    cities, customers, items = defaultdict(set), defaultdict(set), defaultdict(set)
    for offset in range(3):
        files, _ = sales.generate(DAY + timedelta(days=offset), scale=0.3, dirt_rate=0)
        for row in rows(files["user_order_log.csv"]):
            cities[row["city_id"]].add(row["city_name"])
            customers[row["customer_id"]].add((row["first_name"], row["last_name"], row["city_id"]))
            items[row["item_id"]].add(row["item_name"])
    assert len(cities) > 10 and len(customers) > 100 and len(items) == len(sales.ITEMS)
    for mapping in (cities, customers, items):
        assert all(len(values) == 1 for values in mapping.values())


def test_customers_come_back_within_a_week():
    """The retention mart needs both one-time and repeat buyers in a week."""
    per_customer = Counter()
    for offset in range(7):
        files, _ = sales.generate(DAY + timedelta(days=offset), scale=0.3, dirt_rate=0)
        per_customer.update(row["customer_id"] for row in rows(files["user_order_log.csv"]))
    once = sum(1 for count in per_customer.values() if count == 1)
    assert once > 50 and len(per_customer) - once > 50


def test_amounts_are_quantity_times_the_days_price(clean):
    files, _ = clean
    prices = {row["item_id"]: float(row["price"]) for row in rows(files["price_log.csv"])}
    for row in rows(files["user_order_log.csv"]):
        amount = float(row["payment_amount"])
        assert amount > 0
        assert amount == pytest.approx(int(row["quantity"]) * prices[row["item_id"]], abs=0.006)
        assert row["date_time"].startswith(DAY.isoformat())
        assert row["status"] in sales.STATUSES


def test_a_refund_repeats_an_earlier_shipped_line(clean):
    files, manifest = clean
    shipped: list[dict[str, str]] = []
    refunds = 0
    keys = ("customer_id", "item_id", "quantity", "payment_amount")
    for row in rows(files["user_order_log.csv"]):
        if row["status"] == "refunded":
            refunds += 1
            match = [s for s in shipped if all(s[key] == row[key] for key in keys)]
            assert match and all(s["date_time"] <= row["date_time"] for s in match)
            assert all(s["uniq_id"] != row["uniq_id"] for s in match)
        else:
            shipped.append(row)
    assert refunds == manifest.counts["user_order_log.csv:refunded"] > 0


def test_old_layout_has_no_status_and_no_refunds():
    files, manifest = sales.generate(DAY, scale=0.3, dirt_rate=0.3, old_layout=True)
    header = files["user_order_log.csv"].split(b"\n", 1)[0].decode().split(",")
    assert header == [c for c in S3_FILES["user_order_log.csv"].columns if c != "status"]
    assert manifest.dirt["user_order_log.csv:old_layout"] == 1
    assert manifest.counts["user_order_log.csv:refunded"] == 0
    assert manifest.dirt["user_order_log.csv:unknown_status"] == 0


def test_about_one_day_in_seven_is_exported_in_the_old_layout():
    old = sum(sales.is_old_layout(42, DAY + timedelta(days=n)) for n in range(210))
    assert 15 <= old <= 45
    files, manifest = sales.generate(DAY, scale=0.05)
    assert manifest.dirt["user_order_log.csv:old_layout"] == sales.is_old_layout(42, DAY)


def test_files_stream_in_bounded_chunks():
    manifest = sales.Manifest(DAY)
    chunks = sales.render_file("user_order_log.csv", DAY, scale=8, manifest=manifest)
    sizes = [len(chunk) for chunk in chunks]
    assert len(sizes) > 2 and max(sizes) < 2 * sales.CHUNK_BYTES
    assert manifest.counts["user_order_log.csv"] > 20_000
