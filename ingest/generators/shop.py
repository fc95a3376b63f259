"""Shop (DATA_CONTRACTS.md §3): an online shop's daily database export and its signup events.

The shop opens on `OPENING`. Every later day is a pure function of (seed, day, scale):

- users: one per registration, exported the day they register; registrations from
  `LATE_EXPORT` on (22:00) miss that day's export and come in the next day's. A tenth of users
  move up one loyalty level 2..`LOOKBACK_DAYS` days later, and that day's export has them again.
- product_categories: a fixed three-level tree, exported on the opening day only.
- products: the opening catalogue (created before the opening) on the opening day; later days
  export the products created or re-priced (new price and stock) that day.
- orders: placed by users registered before the order time, exported the day they are placed
  as `Pending`; 1..`LOOKBACK_DAYS` days later most become `Completed` (with `delivery_date`) or
  `Cancelled` and that day's export has the order again with the new status.
- order_details: the lines of the day's new orders; `total_amount` is the sum of `total_price`.
- events (topic `new_users_events`): one JSON message per registration, at the registration time.

Ids are serials (users, orders) or serials with a gap between days (order lines), computed from
the daily volumes, so any day can be generated without the ones before it.

Dirt (each record is spoiled with probability `dirt_rate`, one kind at a time) is counted in the
manifest as `<entity>.<kind>`. Kinds named `malformed_*` or `missing_*` make a row unreadable
(a key, amount, quantity that is not a number or is NULL): the loader sends those to rejects.
Every other kind lands as-is for dbt staging: `duplicate` (trim+dedupe), `whitespace` (trim),
`null_*` in a non-key column (kept NULL), `unknown_status` (a status outside
Pending|Completed|Cancelled: readable data a source may really send, so it lands and staging
must flag it and keep it out of the order's status history). For events, `malformed_json` is an
extra, truncated copy of a message (a producer's partial write before its retry): the Kafka
loader rejects it and every user still has one good event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from typing import TYPE_CHECKING

from faker import Faker
from kafka import KafkaConsumer, TopicPartition
from tqdm import tqdm

from ingest import topics
from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, Manifest, rng_for
from ingest.landing import (
    SHOP_ORDER_DETAILS,
    SHOP_ORDERS,
    SHOP_PRODUCT_CATEGORIES,
    SHOP_PRODUCTS,
    SHOP_USERS,
)

if TYPE_CHECKING:
    import random

    from ingest.settings import Settings

OPENING = date(2022, 10, 1)
USERS_PER_DAY = 100
ORDERS_PER_DAY = 300
LOOKBACK_DAYS = 5
LATE_EXPORT = 22 * 3600  # seconds after midnight: later registrations are in the next export
UPGRADE_SHARE = 0.10
MAX_LINES = 5
TOPIC = "new_users_events"
PARTITIONS = topics.DEFAULT_PARTITIONS
PROGRESS_FROM = 20_000  # show a progress bar for loops at least this long

STATUSES = ("Pending", "Completed", "Cancelled")
UNKNOWN_STATUSES = ("Shipped?", "Returned", "on hold")
LOYALTY = ("Bronze", "Silver", "Gold")
ENTITIES = ("users", "product_categories", "products", "orders", "order_details")
TABLES = {
    table.name: table
    for table in (
        SHOP_USERS,
        SHOP_PRODUCT_CATEGORIES,
        SHOP_PRODUCTS,
        SHOP_ORDERS,
        SHOP_ORDER_DETAILS,
    )
}
ONE_DAY = timedelta(days=1)

# (category_id, name, parent_category_id)
CATEGORIES: tuple[tuple[int, str, int | None], ...] = (
    (1, "Electronics", None),
    (2, "Smartphones", 1),
    (3, "Laptops", 1),
    (4, "Audio", 1),
    (5, "Headphones", 4),
    (6, "Speakers", 4),
    (7, "Home & Kitchen", None),
    (8, "Cookware", 7),
    (9, "Furniture", 7),
    (10, "Clothing", None),
    (11, "Men", 10),
    (12, "Women", 10),
    (13, "Books", None),
    (14, "Fiction", 13),
    (15, "Non-fiction", 13),
    (16, "Sports", None),
    (17, "Fitness", 16),
    (18, "Outdoor", 16),
)
# leaf category -> (product nouns, price range in roubles)
ASSORTMENT: dict[int, tuple[tuple[str, ...], tuple[int, int]]] = {
    2: (("Smartphone",), (9_000, 120_000)),
    3: (("Laptop", "Ultrabook"), (35_000, 250_000)),
    5: (("Headphones", "Earbuds"), (1_500, 40_000)),
    6: (("Speaker", "Soundbar"), (2_000, 60_000)),
    8: (("Frying Pan", "Saucepan", "Kettle"), (800, 12_000)),
    9: (("Chair", "Desk", "Bookshelf"), (3_000, 70_000)),
    11: (("Men's Jacket", "Men's T-Shirt", "Men's Jeans"), (900, 25_000)),
    12: (("Women's Dress", "Women's Coat", "Women's Scarf"), (900, 30_000)),
    14: (("Novel", "Short Stories"), (300, 2_500)),
    15: (("Cookbook", "Biography", "Atlas"), (400, 4_000)),
    17: (("Yoga Mat", "Dumbbell Set", "Jump Rope"), (500, 20_000)),
    18: (("Tent", "Backpack", "Sleeping Bag"), (1_500, 45_000)),
}
BRANDS = ("Acme", "Nordic", "Vega", "Orion", "Polar", "Zenith", "Terra", "Lumen")
QUALITIES = ("durable", "lightweight", "compact", "classic", "modern", "eco-friendly")
INITIAL_PRODUCTS = 120
REPRICE_DAY_SHARE = 0.4
NEW_PRODUCT_DAY_SHARE = 0.2

# entity -> the dirt kinds it can get (see the module docstring for where each ends up)
DIRT: dict[str, tuple[str, ...]] = {
    "users": ("duplicate", "whitespace", "null_phone", "malformed_user_id"),
    "product_categories": ("duplicate", "whitespace"),
    "products": ("duplicate", "whitespace", "null_description", "malformed_price"),
    "orders": (
        "duplicate",
        "whitespace",
        "unknown_status",
        "malformed_total_amount",
        "missing_order_id",
    ),
    "order_details": ("duplicate", "malformed_quantity", "missing_product_id"),
    "events": ("duplicate", "whitespace", "null_phone", "malformed_json"),
}
WHITESPACE: dict[str, tuple[str, ...]] = {
    "users": ("first_name", "email"),
    "product_categories": ("name",),
    "products": ("name",),
    "orders": ("status",),
    "events": ("first_name", "email"),
}
NOT_A_NUMBER = ("N/A", "#VALUE!", "12O", "1,5", "two")

Record = dict[str, str | None]


def rejected_at_load(kind: str) -> bool:
    """Whether a dirt kind makes a row unreadable (rejects) rather than landing it for staging."""
    return kind.startswith(("malformed_", "missing_"))


@dataclass(frozen=True)
class Event:
    """One Kafka message: key = user_id, value = the JSON text, timestamp = registration time."""

    key: str
    value: str
    timestamp_ms: int


@dataclass
class ShopDay:
    """The day's export (entity -> rows, as the shop's database writes them) and its events."""

    day: date
    tables: dict[str, list[Record]]
    events: list[Event]
    manifest: Manifest


# --- volumes and ids ---------------------------------------------------------------------------


def _volume(seed: int, what: str, day: date, base: int, scale: float) -> int:
    if day < OPENING:
        return 0
    rng = rng_for(seed, "volume", what, day)
    weekend = 1.25 if day.weekday() >= 5 else 1.0
    return max(1, round(base * scale * weekend * rng.uniform(0.85, 1.15)))


@lru_cache(maxsize=8192)
def daily_users(seed: int, scale: float, day: date) -> int:
    return _volume(seed, "users", day, USERS_PER_DAY, scale)


@lru_cache(maxsize=8192)
def daily_orders(seed: int, scale: float, day: date) -> int:
    return _volume(seed, "orders", day, ORDERS_PER_DAY, scale)


@lru_cache(maxsize=1024)
def ids_before(seed: int, scale: float, day: date) -> tuple[int, int]:
    """(users, orders) created before `day`: the day's serial ids continue from there."""
    users = orders = 0
    current = OPENING
    while current < day:
        users += daily_users(seed, scale, current)
        orders += daily_orders(seed, scale, current)
        current += ONE_DAY
    return users, orders


def _at(day: date, second: int) -> datetime:
    return datetime.combine(day, time()) + timedelta(seconds=second)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _progress(items: Iterable, total: int, what: str) -> Iterable:
    return tqdm(items, total=total, desc=what, unit="row", disable=total < PROGRESS_FROM)


# --- users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signup:
    """What must be known about a registration to schedule its later changes cheaply."""

    second: int  # registration time, seconds after midnight
    loyalty: str
    upgrade_after: int  # days until the loyalty upgrade; 0 = never


@lru_cache(maxsize=32)
def signups(seed: int, scale: float, day: date) -> tuple[Signup, ...]:
    """The day's registrations in time order (user ids increase with registration time)."""
    rng = rng_for(seed, "signups", day)
    count = daily_users(seed, scale, day)
    # the last minute stays free so a same-day registrant can still order
    seconds = sorted(rng.randrange(86_340) for _ in range(count))
    found = []
    for second in seconds:
        loyalty = rng.choices(LOYALTY, weights=(75, 20, 5))[0]
        upgrade = rng.random() < UPGRADE_SHARE and loyalty != "Gold"
        after = rng.randint(2, LOOKBACK_DAYS)
        found.append(Signup(second, loyalty, after if upgrade else 0))
    return tuple(found)


_FAKE = Faker("ru_RU")  # building a Faker is slow; re-seeding one is cheap
MAIL_DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "rambler.ru", "bk.ru", "list.ru")
# Russian letters as e-mail logins spell them (Faker's own user_name() is 3x slower than a name)
TRANSLIT = str.maketrans(
    dict(zip("абвгдеёзийклмнопрстуфыэ", "abvgdeeziyklmnoprstufye", strict=True))
    | {"ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ю": "yu", "я": "ya"}
    | {"ъ": "", "ь": ""}
)


def user_record(seed: int, scale: float, day: date, index: int, loyalty: str) -> Record:
    """User number `index` (0-based) registered on `day`, with the given loyalty status."""
    signup = signups(seed, scale, day)[index]
    user_id = ids_before(seed, scale, day)[0] + index + 1
    rng = rng_for(seed, "user", day, index)
    _FAKE.seed_instance(rng.getrandbits(64))
    if rng.random() < 0.5:
        first, last = _FAKE.first_name_female(), _FAKE.last_name_female()
    else:
        first, last = _FAKE.first_name_male(), _FAKE.last_name_male()
    login = f"{first[0]}.{last}".lower().translate(TRANSLIT)
    return {
        "user_id": str(user_id),
        "first_name": first,
        "last_name": last,
        "email": f"{login}{user_id}@{rng.choice(MAIL_DOMAINS)}",
        "phone": _FAKE.phone_number(),
        "registration_date": _stamp(_at(day, signup.second)),
        "loyalty_status": loyalty,
    }


def _upgraded(loyalty: str) -> str:
    return LOYALTY[min(LOYALTY.index(loyalty) + 1, len(LOYALTY) - 1)]


# --- catalogue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    product_id: int
    name: str
    description: str
    category_id: int
    price_cents: int
    stock_quantity: int
    created: datetime


@dataclass(frozen=True)
class Catalogue:
    """The products on one day, which of them that day's export carries, which can be ordered."""

    products: dict[int, Product]
    exported: tuple[int, ...]  # created or changed that day
    orderable: tuple[int, ...]  # created before the day began


def _new_product(rng: random.Random, product_id: int, created: datetime) -> Product:
    category_id = rng.choice(sorted(ASSORTMENT))
    nouns, (low, high) = ASSORTMENT[category_id]
    noun, brand = rng.choice(nouns), rng.choice(BRANDS)
    model = f"{rng.choice('ACEKMRSTVX')}{rng.randint(1, 99)}"
    first, second = rng.sample(QUALITIES, 2)
    return Product(
        product_id=product_id,
        name=f"{brand} {noun} {model}",
        description=f"{noun} by {brand}: {first} and {second}.",
        category_id=category_id,
        price_cents=rng.randint(low, high) * 100 + rng.choice((0, 90, 99)),
        stock_quantity=rng.randint(0, 500),
        created=created,
    )


def _orderable(products: dict[int, Product], day: date) -> tuple[int, ...]:
    start = _at(day, 0)
    return tuple(sorted(pid for pid, product in products.items() if product.created < start))


def _opening_catalogue(seed: int) -> Catalogue:
    rng = rng_for(seed, "catalogue", OPENING)
    products = {}
    for product_id in range(1, INITIAL_PRODUCTS + 1):
        created = _at(OPENING - timedelta(days=rng.randint(1, 60)), rng.randrange(86_400))
        products[product_id] = _new_product(rng, product_id, created)
    return Catalogue(products, tuple(products), _orderable(products, OPENING))


def _next_catalogue(seed: int, previous: Catalogue, day: date) -> Catalogue:
    rng = rng_for(seed, "catalogue", day)
    products = dict(previous.products)
    exported: list[int] = []
    if rng.random() < REPRICE_DAY_SHARE:
        for product_id in rng.sample(sorted(products), rng.randint(2, 6)):
            product = products[product_id]
            price = max(100, round(product.price_cents * rng.uniform(0.85, 1.2)))
            products[product_id] = replace(
                product, price_cents=price, stock_quantity=rng.randint(0, 500)
            )
            exported.append(product_id)
    if rng.random() < NEW_PRODUCT_DAY_SHARE:
        for _ in range(rng.randint(1, 2)):
            product_id = max(products) + 1
            products[product_id] = _new_product(rng, product_id, _at(day, rng.randrange(86_400)))
            exported.append(product_id)
    return Catalogue(products, tuple(exported), _orderable(products, day))


_CATALOGUES: dict[tuple[int, date], Catalogue] = {}


def catalogue_on(seed: int, day: date) -> Catalogue:
    """The catalogue on `day` (on or after the opening): each day follows from the one before."""
    if day < OPENING:
        raise ValueError(f"the shop opens on {OPENING}; there is no catalogue on {day}")
    known = day
    while known > OPENING and (seed, known) not in _CATALOGUES:
        known -= ONE_DAY
    if (seed, known) not in _CATALOGUES:
        _CATALOGUES[(seed, known)] = _opening_catalogue(seed)
    catalogue = _CATALOGUES[(seed, known)]
    while known < day:
        known += ONE_DAY
        catalogue = _CATALOGUES[(seed, known)] = _next_catalogue(seed, catalogue, known)
    return catalogue


def _product_record(product: Product) -> Record:
    return {
        "product_id": str(product.product_id),
        "name": product.name,
        "description": product.description,
        "category_id": str(product.category_id),
        "price": _money(product.price_cents),
        "stock_quantity": str(product.stock_quantity),
        "creation_date": _stamp(product.created),
    }


# --- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fate:
    """What happens to an order after the day it is placed."""

    after: int  # days until its status changes; 0 = stays Pending
    status: str  # the status it changes to


@lru_cache(maxsize=32)
def fates(seed: int, scale: float, day: date) -> tuple[Fate, ...]:
    rng = rng_for(seed, "fates", day)
    found = []
    for _ in range(daily_orders(seed, scale, day)):
        roll, after = rng.random(), rng.randint(1, LOOKBACK_DAYS)
        if roll < 0.75:
            found.append(Fate(after, "Completed"))
        elif roll < 0.92:
            found.append(Fate(after, "Cancelled"))
        else:
            found.append(Fate(0, "Pending"))
    return tuple(found)


@dataclass(frozen=True)
class Order:
    order_id: int
    user_id: int
    placed: datetime
    lines: tuple[tuple[int, int, int], ...]  # (product_id, quantity, price in cents)
    delivery_second: int  # time of day of the delivery, if it is completed

    @property
    def total_cents(self) -> int:
        return sum(quantity * price for _, quantity, price in self.lines)


def order(seed: int, scale: float, day: date, index: int) -> Order:
    """Order number `index` (0-based) placed on `day`: by a user registered before it."""
    rng = rng_for(seed, "order", day, index)
    users_before, orders_before = ids_before(seed, scale, day)
    today = signups(seed, scale, day)
    pick = rng.randrange(users_before + len(today))
    if pick < users_before:
        second = rng.randrange(86_400)
    else:  # a same-day registrant orders after registering
        second = rng.randrange(today[pick - users_before].second + 1, 86_400)
    catalogue = catalogue_on(seed, day)
    count = rng.choices(range(1, MAX_LINES + 1), weights=(40, 25, 15, 12, 8))[0]
    chosen = rng.sample(catalogue.orderable, min(count, len(catalogue.orderable)))
    lines = tuple(
        (
            product_id,
            rng.choices((1, 2, 3, 4, 5), weights=(60, 20, 10, 6, 4))[0],
            catalogue.products[product_id].price_cents,
        )
        for product_id in chosen
    )
    return Order(
        orders_before + index + 1, pick + 1, _at(day, second), lines, rng.randrange(86_400)
    )


def _order_record(placed: Order, status: str, delivered: datetime | None) -> Record:
    return {
        "order_id": str(placed.order_id),
        "user_id": str(placed.user_id),
        "order_date": _stamp(placed.placed),
        "total_amount": _money(placed.total_cents),
        "status": status,
        "delivery_date": _stamp(delivered) if delivered else None,
    }


# --- the day's export and events -----------------------------------------------------------------


def _earlier_days(day: date, first: int, last: int) -> Iterator[tuple[int, date]]:
    for back in range(first, last + 1):
        earlier = day - timedelta(days=back)
        if earlier < OPENING:
            return
        yield back, earlier


def clean_export(seed: int, day: date, scale: float) -> tuple[dict[str, list[Record]], Counter]:
    """The day's export before dirt, and what it holds (`<entity>.<what>` counts)."""
    tables: dict[str, list[Record]] = {entity: [] for entity in ENTITIES}
    counts: Counter = Counter()
    if day < OPENING:
        return tables, counts
    users = tables["users"]
    today = signups(seed, scale, day)
    for index, signup in _progress(enumerate(today), len(today), f"users {day}"):
        if signup.second < LATE_EXPORT:
            users.append(user_record(seed, scale, day, index, signup.loyalty))
            counts["users.new"] += 1
    for _, earlier in _earlier_days(day, 1, 1):
        for index, signup in enumerate(signups(seed, scale, earlier)):
            if signup.second >= LATE_EXPORT:
                users.append(user_record(seed, scale, earlier, index, signup.loyalty))
                counts["users.new_late"] += 1
    for back, earlier in _earlier_days(day, 2, LOOKBACK_DAYS):
        for index, signup in enumerate(signups(seed, scale, earlier)):
            if signup.upgrade_after == back:
                upgraded = _upgraded(signup.loyalty)
                users.append(user_record(seed, scale, earlier, index, upgraded))
                counts["users.loyalty_changes"] += 1

    if day == OPENING:
        for category_id, name, parent in CATEGORIES:
            tables["product_categories"].append(
                {
                    "category_id": str(category_id),
                    "name": name,
                    "parent_category_id": None if parent is None else str(parent),
                }
            )
        counts["product_categories.new"] = len(CATEGORIES)
    catalogue = catalogue_on(seed, day)
    for product_id in catalogue.exported:
        product = catalogue.products[product_id]
        tables["products"].append(_product_record(product))
        is_new = day == OPENING or product.created >= _at(day, 0)
        counts["products.new" if is_new else "products.changed"] += 1

    _, orders_before = ids_before(seed, scale, day)
    line_id = orders_before * MAX_LINES  # each day's line ids start after every earlier day's block
    count = daily_orders(seed, scale, day)
    for index in _progress(range(count), count, f"orders {day}"):
        placed = order(seed, scale, day, index)
        tables["orders"].append(_order_record(placed, "Pending", None))
        for product_id, quantity, price in placed.lines:
            line_id += 1
            tables["order_details"].append(
                {
                    "order_detail_id": str(line_id),
                    "order_id": str(placed.order_id),
                    "product_id": str(product_id),
                    "quantity": str(quantity),
                    "price_per_unit": _money(price),
                    "total_price": _money(quantity * price),
                }
            )
    counts["orders.new"] = count
    counts["order_details.new"] = len(tables["order_details"])
    for back, earlier in _earlier_days(day, 1, LOOKBACK_DAYS):
        for index, fate in enumerate(fates(seed, scale, earlier)):
            if fate.after == back:
                placed = order(seed, scale, earlier, index)
                delivered = _at(day, placed.delivery_second) if fate.status == "Completed" else None
                tables["orders"].append(_order_record(placed, fate.status, delivered))
                counts["orders.status_changes"] += 1
    return tables, counts


def clean_events(seed: int, day: date, scale: float) -> list[Record]:
    """The day's registrations as the signup service publishes them, before dirt."""
    today = signups(seed, scale, day)
    return [
        user_record(seed, scale, day, index, signup.loyalty)
        for index, signup in _progress(enumerate(today), len(today), f"events {day}")
    ]


def _spoil(entity: str, kind: str, record: Record, rng: random.Random) -> None:
    """Apply one non-duplicate dirt kind to `record` in place."""
    if kind == "whitespace":
        for column in WHITESPACE[entity]:
            record[column] = f"  {record[column]} "
    elif kind == "unknown_status":
        record["status"] = rng.choice(UNKNOWN_STATUSES)
    elif kind.startswith(("null_", "missing_")):
        record[kind.split("_", 1)[1]] = None
    elif kind.startswith("malformed_"):
        record[kind.split("_", 1)[1]] = rng.choice(NOT_A_NUMBER)
    else:
        raise ValueError(f"unknown dirt kind {kind!r} for {entity}")


def _dirty(
    entity: str, records: list[Record], rng: random.Random, dirt_rate: float, dirt: Counter
) -> list[Record]:
    rows: list[Record] = []
    for record in records:
        if rng.random() < dirt_rate:
            kind = rng.choice(DIRT[entity])
            dirt[f"{entity}.{kind}"] += 1
            if kind == "duplicate":
                rows.append(dict(record))
            else:
                record = dict(record)
                _spoil(entity, kind, record, rng)
        rows.append(record)
    return rows


def export(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> tuple[dict[str, list[Record]], Manifest]:
    """The day's database export (entity -> rows) with dirt, and its manifest."""
    clean, counts = clean_export(seed, day, scale)
    manifest = Manifest(day, counts=counts)
    tables = {}
    for entity in ENTITIES:
        rng = rng_for(seed, "dirt", entity, day)
        tables[entity] = _dirty(entity, clean[entity], rng, dirt_rate, manifest.dirt)
        manifest.counts[f"{entity}.rows"] = len(tables[entity])
    return tables, manifest


def _timestamp_ms(record: Record) -> int:
    moment = datetime.fromisoformat(str(record["registration_date"]))
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def registration_events(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> tuple[list[Event], Manifest]:
    """The day's `new_users_events` messages with dirt, in publishing order, and their manifest."""
    manifest = Manifest(day)
    rng = rng_for(seed, "dirt", "events", day)
    events: list[Event] = []
    for record in clean_events(seed, day, scale):
        kind = rng.choice(DIRT["events"]) if rng.random() < dirt_rate else None
        if kind:
            manifest.dirt[f"events.{kind}"] += 1
        if kind in ("whitespace", "null_phone"):
            record = dict(record)
            _spoil("events", kind, record, rng)
        payload = dict(record, user_id=int(str(record["user_id"])))
        value = json.dumps(payload, ensure_ascii=False)
        event = Event(str(record["user_id"]), value, _timestamp_ms(record))
        if kind == "malformed_json":
            events.append(replace(event, value=value[: len(value) // 2]))
        events.append(event)
        if kind == "duplicate":
            events.append(event)
        manifest.counts["events.registrations"] += 1
    manifest.counts["events.messages"] = len(events)
    return events, manifest


def generate(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
) -> ShopDay:
    """Everything the shop sends for `day`: the export, the events and one manifest for both."""
    tables, manifest = export(day, seed, scale, dirt_rate)
    events, published = registration_events(day, seed, scale, dirt_rate)
    manifest.counts.update(published.counts)
    manifest.dirt.update(published.dirt)
    return ShopDay(day, tables, events, manifest)


# --- publishing ----------------------------------------------------------------------------------


def _day_ms(day: date) -> tuple[int, int]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return int(start.timestamp() * 1000), int((start + ONE_DAY).timestamp() * 1000)


def on_topic(settings: Settings, topic: str, day: date, idle_s: float = 30.0) -> Counter:
    """(key, value, timestamp) of the messages on `topic` whose timestamp falls on `day`.

    Every such message is at or after the offset `offsets_for_times` finds for the day's start,
    whatever order days were published in, so only that tail of each partition is read.
    """
    start_ms, end_ms = _day_ms(day)
    found: Counter = Counter()
    consumer = KafkaConsumer(
        bootstrap_servers=topics.bootstrap(settings),
        enable_auto_commit=False,
        allow_auto_create_topics=False,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return found
        firsts = consumer.offsets_for_times({tp: start_ms for tp in partitions})
        ends = consumer.end_offsets(partitions)
        todo = {
            tp: hit.offset
            for tp, hit in firsts.items()
            if hit is not None and hit.offset < ends[tp]
        }
        if not todo:
            return found
        consumer.assign(list(todo))
        for tp, offset in todo.items():
            consumer.seek(tp, offset)
        last_progress = monotonic()
        while any(consumer.position(tp) < ends[tp] for tp in todo):
            batches = consumer.poll(timeout_ms=1000)
            if batches:
                last_progress = monotonic()
            elif monotonic() - last_progress > idle_s:
                raise TimeoutError(
                    f"reading {topic} from {topics.bootstrap(settings)} made no progress"
                )
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp] and start_ms <= record.timestamp < end_ms:
                        key = record.key.decode() if record.key is not None else None
                        value = record.value.decode() if record.value is not None else None
                        found[(key, value, record.timestamp)] += 1
        return found
    finally:
        consumer.close()


def publish_events(
    day: date,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    topic: str = TOPIC,
) -> Manifest:
    """Produce the day's events to `topic` (key = user_id, timestamp = registration time).

    Publishing a day again sends only what the topic does not hold yet for that day, compared as
    (key, value, timestamp) multisets: a re-run sends nothing, and a run killed half-way is
    completed by the next one without duplicates. No separate marker can disagree with the topic.
    A day already on the topic with messages these parameters would not make is refused whole.
    The manifest's `events.sent` counts the messages this call produced.
    """
    events, manifest = registration_events(day, seed, scale, dirt_rate)
    topics.ensure_topic(settings, topic, PARTITIONS)
    wanted = Counter((e.key, e.value, e.timestamp_ms) for e in events)
    present = on_topic(settings, topic, day)
    foreign = present - wanted
    if foreign:
        raise ValueError(
            f"{topic} already holds {foreign.total()} messages for {day} that seed={seed}"
            f" scale={scale} dirt_rate={dirt_rate} would not publish: the day was published with"
            " other parameters. Kafka cannot take them back: publish with those parameters, or"
            " delete the topic (which drops every day in it) and publish again."
        )
    missing = wanted - present
    out = topics.producer(settings)
    futures = []
    try:
        for event in _progress(events, len(events), f"publish {topic} {day}"):
            message = (event.key, event.value, event.timestamp_ms)
            if missing[message] > 0:
                missing[message] -= 1
                futures.append(
                    out.send(
                        topic,
                        key=event.key.encode(),
                        value=event.value.encode(),
                        timestamp_ms=event.timestamp_ms,
                    )
                )
        out.flush()
    finally:
        out.close()
    failed = [future.exception for future in futures if future.failed()]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(futures)} messages to {topic} failed ({failed[0]}); "
            "publish the day again: only the missing ones are sent"
        )
    manifest.counts["events.sent"] = len(futures)
    return manifest
