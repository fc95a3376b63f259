"""The shop generator and the shop loader's row checks: pure functions, no server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from ingest.generators import shop
from ingest.loaders.shop import SHAPES, row_problem
from ingest.settings import REPO_ROOT

DAYS = [shop.OPENING + timedelta(days=n) for n in range(10)]
SCALE = 0.2


@pytest.fixture(scope="module")
def clean() -> list[shop.ShopDay]:
    """Ten days without dirt, so the business rules can be checked on every row."""
    return [shop.generate(day, scale=SCALE, dirt_rate=0) for day in DAYS]


def at(text: str | None) -> datetime:
    return datetime.fromisoformat(str(text))


def digest(day: date) -> str:
    return hashlib.sha256(repr(shop.generate(day, seed=7)).encode()).hexdigest()


def test_same_seed_and_day_give_identical_output():
    day = DAYS[3]
    assert shop.generate(day, seed=7) == shop.generate(day, seed=7)
    assert shop.generate(day, seed=7).tables != shop.generate(day, seed=8).tables
    # byte-identical in a fresh interpreter with other hash seeds and empty caches
    code = f"from tests.test_shop_generator import digest; print(digest(date({day:%Y, %-m, %-d})))"
    fresh = subprocess.run(
        [sys.executable, "-c", f"from datetime import date; {code}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert fresh.stdout.strip() == digest(day)


def test_records_have_the_landing_columns(clean):
    for shop_day in clean:
        for entity, records in shop_day.tables.items():
            for record in records:
                assert tuple(record) == shop.TABLES[entity].columns
        for event in shop_day.events:
            assert tuple(json.loads(event.value)) == shop.TABLES["users"].columns


def test_days_before_the_opening_are_empty():
    before = shop.generate(shop.OPENING - timedelta(days=1))
    assert not any(before.tables.values()) and not before.events


def test_volumes_are_realistic_at_scale_one():
    manifest = shop.generate(DAYS[2]).manifest
    assert 100 <= manifest.counts["orders.new"] <= 1000
    assert manifest.counts["events.registrations"] >= 50
    bigger = shop.generate(DAYS[2], scale=3, dirt_rate=0).manifest
    assert bigger.counts["orders.new"] > 2 * manifest.counts["orders.new"]


def test_ids_are_unique_across_days(clean):
    users = [e.key for d in clean for e in d.events]
    orders = [r["order_id"] for d in clean for r in d.tables["orders"] if r["status"] == "Pending"]
    lines = [r["order_detail_id"] for d in clean for r in d.tables["order_details"]]
    for ids in (users, orders, lines):
        assert ids and len(ids) == len(set(ids))


def test_order_totals_equal_the_sum_of_their_lines(clean):
    for shop_day in clean:
        sums: Counter = Counter()
        for line in shop_day.tables["order_details"]:
            assert Decimal(line["total_price"]) == line_total(line)
            sums[line["order_id"]] += Decimal(line["total_price"])
        new = [r for r in shop_day.tables["orders"] if at(r["order_date"]).date() == shop_day.day]
        assert new and {r["order_id"] for r in new} == set(sums)
        for order in new:
            assert Decimal(order["total_amount"]) == sums[order["order_id"]]


def line_total(line: dict) -> Decimal:
    return int(line["quantity"]) * Decimal(line["price_per_unit"])


def test_status_changes_come_on_later_days(clean):
    exports: dict[str, list[tuple[date, dict]]] = {}
    for shop_day in clean:
        for order in shop_day.tables["orders"]:
            exports.setdefault(order["order_id"], []).append((shop_day.day, order))
    changed = [versions for versions in exports.values() if len(versions) > 1]
    assert len(changed) > len(exports) / 2
    for versions in changed:
        assert len(versions) == 2
        (first_day, first), (later_day, later) = versions
        assert first["status"] == "Pending" and at(first["order_date"]).date() == first_day
        assert later["status"] in ("Completed", "Cancelled")
        assert 1 <= (later_day - first_day).days <= shop.LOOKBACK_DAYS
        unchanged = ("order_id", "user_id", "order_date", "total_amount")
        assert {k: later[k] for k in unchanged} == {k: first[k] for k in unchanged}
        if later["status"] == "Completed":
            assert at(later["delivery_date"]).date() == later_day
        else:
            assert later["delivery_date"] is None
    assert {later["status"] for (_, _), (_, later) in changed} == {"Completed", "Cancelled"}


def test_orders_reference_users_and_products_that_exist_by_then(clean):
    registered: dict[str, datetime] = {}
    products: dict[str, datetime] = {}
    for shop_day in clean:
        for event in shop_day.events:
            registered[event.key] = at(json.loads(event.value)["registration_date"])
        for product in shop_day.tables["products"]:
            products.setdefault(product["product_id"], at(product["creation_date"]))
        placed = {}
        for order in shop_day.tables["orders"]:
            assert registered[order["user_id"]] < at(order["order_date"])
            placed[order["order_id"]] = at(order["order_date"])
        for line in shop_day.tables["order_details"]:
            assert products[line["product_id"]] < placed[line["order_id"]]


def test_late_registrations_are_exported_the_next_day(clean):
    late = 0
    for today, tomorrow in zip(clean, clean[1:], strict=False):
        exported = {u["user_id"] for u in today.tables["users"]}
        exported_next = {u["user_id"] for u in tomorrow.tables["users"]}
        for event in today.events:
            moment = at(json.loads(event.value)["registration_date"])
            if moment.hour * 3600 + moment.minute * 60 + moment.second >= shop.LATE_EXPORT:
                assert event.key not in exported and event.key in exported_next
                late += 1
            else:
                assert event.key in exported
    assert late


def test_loyalty_upgrades_are_exported_again(clean):
    seen: dict[str, str] = {}
    upgrades = 0
    for shop_day in clean:
        for user in shop_day.tables["users"]:
            before = seen.get(user["user_id"])
            if before is not None:
                assert shop.LOYALTY.index(user["loyalty_status"]) == shop.LOYALTY.index(before) + 1
                upgrades += 1
            seen[user["user_id"]] = user["loyalty_status"]
    assert upgrades


def test_catalogue_is_small_stable_and_changes_prices(clean):
    first, *later = clean
    categories = {
        c["category_id"]: c["parent_category_id"] for c in first.tables["product_categories"]
    }
    assert len(categories) == len(shop.CATEGORIES)
    assert not any(d.tables["product_categories"] for d in later)
    for category_id in categories:  # every parent exists and no chain loops
        chain, current = set(), category_id
        while categories[current] is not None:
            assert current not in chain
            chain.add(current)
            current = categories[current]
    assert len(first.tables["products"]) == shop.INITIAL_PRODUCTS
    assert all(
        at(p["creation_date"]) < at(f"{shop.OPENING} 00:00:00") for p in first.tables["products"]
    )
    price = {p["product_id"]: p["price"] for p in first.tables["products"]}
    repriced = 0
    for shop_day in later:
        assert len(shop_day.tables["products"]) < 10
        for product in shop_day.tables["products"]:
            repriced += (
                product["product_id"] in price and price[product["product_id"]] != product["price"]
            )
            price[product["product_id"]] = product["price"]
        for line in shop_day.tables["order_details"]:
            assert line["price_per_unit"] == price[line["product_id"]]
    assert repriced


def test_manifest_counts_every_row():
    shop_day = shop.generate(DAYS[4], scale=SCALE, dirt_rate=0.2)
    counts, dirt = shop_day.manifest.counts, shop_day.manifest.dirt
    made = {
        "users": counts["users.new"] + counts["users.new_late"] + counts["users.loyalty_changes"],
        "products": counts["products.new"] + counts["products.changed"],
        "orders": counts["orders.new"] + counts["orders.status_changes"],
        "order_details": counts["order_details.new"],
        "product_categories": counts["product_categories.new"],
    }
    for entity, records in shop_day.tables.items():
        assert counts[f"{entity}.rows"] == len(records)
        assert len(records) == made[entity] + dirt[f"{entity}.duplicate"]
    events = shop_day.events
    assert counts["events.messages"] == len(events)
    extra = dirt["events.duplicate"] + dirt["events.malformed_json"]
    assert len(events) == counts["events.registrations"] + extra
    assert sum(dirt.values()) > 0


def readable_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def test_every_dirt_kind_is_injected_and_unreadable_rows_are_refused():
    days = [shop.generate(day, scale=SCALE, dirt_rate=0.3) for day in DAYS[:3]]
    seen = {kind for d in days for kind in d.manifest.dirt}
    assert seen == {f"{entity}.{kind}" for entity, kinds in shop.DIRT.items() for kind in kinds}
    for shop_day in days:
        dirt = shop_day.manifest.dirt
        for table, shape in SHAPES.items():
            records = shop_day.tables[table.name]
            reasons = [r for r in map(partial(row_problem, shape), records) if r is not None]
            # each unreadable record names the column its dirt spoiled
            expected = Counter(
                {
                    kind.split("_", 1)[1]: n
                    for key, n in dirt.items()
                    if key.startswith(f"{table.name}.")
                    for kind in [key.split(".", 1)[1]]
                    if shop.rejected_at_load(kind)
                }
            )
            assert Counter(reason.split()[0] for reason in reasons) == expected
            assert all(
                reason.endswith(("is missing", "is not a whole number", "is not a decimal number"))
                for reason in reasons
            )
        broken = [e for e in shop_day.events if not readable_json(e.value)]
        assert len(broken) == dirt["events.malformed_json"]


def test_row_checks_name_the_problem():
    shape = SHAPES[shop.TABLES["orders"]]
    good = {
        "order_id": " 7 ",
        "user_id": "3",
        "order_date": "2022-10-01 10:00:00",
        "total_amount": "10.50",
        "status": "Shipped?",
        "delivery_date": None,
    }
    assert row_problem(shape, good) is None
    assert row_problem(shape, good | {"order_id": None}) == "order_id is missing"
    assert row_problem(shape, good | {"user_id": "  "}) == "user_id is missing"
    assert row_problem(shape, good | {"total_amount": "1,5"}) == (
        "total_amount '1,5' is not a decimal number"
    )
    assert row_problem(shape, good | {"delivery_date": "soon"}) == (
        "delivery_date 'soon' is not a timestamp"
    )
