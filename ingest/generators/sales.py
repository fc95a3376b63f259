"""Sales (DATA_CONTRACTS.md §2): the four CSV files a shop exports to S3 every day.

The world is a fixed catalogue of cities, item categories and items, and a pool of customers whose
name and home city depend only on the seed and their id, so dimensions are stable across days.
Each day brings order lines (`user_order_log`), customer actions (`user_activity_log`), a market
research panel by category and city (`customer_research`) and the day's price list (`price_log`).

Choices the contract leaves open:
- A refund is its own order line with status `refunded` and its own `uniq_id`: it repeats the
  customer, item, quantity and amount of an earlier shipped line of the same day. Amounts are
  positive in the file; dbt makes refunds negative.
- `payment_amount` = quantity × the item's price of the day (the `price_log` of that day).
- An order line is placed from the customer's home city; `date_time` is always within the day.
- About one day in seven the shop exports `user_order_log` in the old layout, without `status`
  (every line shipped, no refunds: the old system did not export them).
- `id` numbers the lines of one day's export; `uniq_id` identifies an order line, and a duplicate
  (a re-delivered line) is the same line again, `uniq_id` included, a few lines later.

Dirt, at most one kind per clean line, with probability `dirt_rate` per line:
- landed as-is, for dbt staging to clean: `duplicate` lines, `whitespace` around a value, `null`
  (an empty field; only in the descriptive name columns of `user_order_log`: first_name,
  last_name, city_name, item_name, never in keys, amounts or status);
- refused by the loader into the rejects table: `short` (last field missing) and `long` (an
  unquoted comma inside a value) rows — wrong number of fields —, `quote` (an unterminated quoted
  field) and `unknown_status` (a status that is neither shipped nor refunded).
The manifest counts every line written and every piece of dirt, per file (`<file>:<kind>` keys).
"""

from __future__ import annotations

import bisect
import hashlib
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import accumulate

from faker.providers.person.ru_RU import Provider as RussianNames
from tqdm import tqdm

from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, Manifest, rng_for
from ingest.landing import S3_FILES
from ingest.settings import Settings

ORDER_LINES_PER_DAY = 3000
ACTIVITY_PER_ORDER_LINE = 2
CUSTOMERS_PER_SCALE = 8000
MIN_CUSTOMERS = 100
REFUND_SHARE = 0.04
OLD_LAYOUT_SHARE = 1 / 7
STATUSES = ("shipped", "refunded")
UNKNOWN_STATUSES = ("delivered", "cancelled", "returned", "pending")
CHUNK_BYTES = 1 << 20
PROGRESS_MIN_LINES = 200_000

# --- the fixed world ------------------------------------------------------------------------------

# (city_id, city_name, weight): weights roughly follow population.
CITIES = (
    (1, "Москва", 13.0),
    (2, "Санкт-Петербург", 5.6),
    (3, "Новосибирск", 1.6),
    (4, "Екатеринбург", 1.5),
    (5, "Казань", 1.3),
    (6, "Нижний Новгород", 1.2),
    (7, "Челябинск", 1.2),
    (8, "Красноярск", 1.2),
    (9, "Самара", 1.2),
    (10, "Уфа", 1.1),
    (11, "Ростов-на-Дону", 1.1),
    (12, "Омск", 1.1),
    (13, "Краснодар", 1.1),
    (14, "Воронеж", 1.0),
    (15, "Пермь", 1.0),
    (16, "Волгоград", 1.0),
    (17, "Саратов", 0.9),
    (18, "Тюмень", 0.8),
    (19, "Тольятти", 0.7),
    (20, "Ижевск", 0.6),
)
CITY_NAMES = {city_id: name for city_id, name, _ in CITIES}
_CITY_CUM = list(accumulate(weight for _, _, weight in CITIES))

CATEGORIES = {
    1: "Электроника",
    2: "Бытовая техника",
    3: "Книги",
    4: "Одежда",
    5: "Спорт и отдых",
    6: "Дом и сад",
}


@dataclass(frozen=True)
class Item:
    item_id: int
    name: str
    category_id: int
    base_price: float


ITEMS = (
    Item(101, "Смартфон", 1, 24990),
    Item(102, "Ноутбук", 1, 64990),
    Item(103, "Беспроводные наушники", 1, 5990),
    Item(104, "Умные часы", 1, 12990),
    Item(105, "Планшет", 1, 29990),
    Item(201, "Электрический чайник", 2, 2490),
    Item(202, "Пылесос", 2, 15990),
    Item(203, "Микроволновая печь", 2, 8990),
    Item(204, "Кофемашина", 2, 34990),
    Item(205, "Утюг", 2, 3490),
    Item(301, "Роман в мягкой обложке", 3, 450),
    Item(302, "Детская энциклопедия", 3, 1290),
    Item(303, "Кулинарная книга", 3, 990),
    Item(304, "Учебник английского", 3, 1590),
    Item(401, "Футболка", 4, 1290),
    Item(402, "Джинсы", 4, 3990),
    Item(403, "Зимняя куртка", 4, 11990),
    Item(404, "Кроссовки", 4, 6990),
    Item(405, "Шарф", 4, 990),
    Item(501, "Велосипед", 5, 29990),
    Item(502, "Гантели", 5, 2990),
    Item(503, "Коврик для йоги", 5, 1490),
    Item(504, "Палатка", 5, 8990),
    Item(505, "Футбольный мяч", 5, 1990),
    Item(601, "Набор посуды", 6, 4990),
    Item(602, "Подушка", 6, 1490),
    Item(603, "Настольная лампа", 6, 2290),
    Item(604, "Комнатное растение", 6, 890),
    Item(605, "Постельное бельё", 6, 3490),
)
# Cheaper items sell more often.
_ITEM_CUM = list(accumulate(1 / item.base_price**0.5 for item in ITEMS))
_QUANTITY_CUM = list(accumulate((60, 25, 10, 4, 1)))

# action_id -> (meaning, weight)
ACTIONS = {1: ("view", 70), 2: ("add_to_cart", 15), 3: ("remove_from_cart", 5), 4: ("wishlist", 7)}
_ACTION_IDS = tuple(ACTIONS)
_ACTION_CUM = list(accumulate(weight for _, weight in ACTIONS.values()))


@dataclass(frozen=True)
class Customer:
    customer_id: int
    first_name: str
    last_name: str
    city_id: int


@lru_cache(maxsize=1 << 16)  # the frequent buyers; bounded memory at any scale
def customer(seed: int, customer_id: int) -> Customer:
    """The customer with this id: name and home city depend only on the seed and the id.

    Drawn from a hash rather than a seeded `random.Random`: seeding one costs more than the
    rest of an order line, and scale 1000 has millions of customers.
    """
    digest = hashlib.sha256(f"{seed}:customer:{customer_id}".encode()).digest()
    female, first, last, place = (int.from_bytes(digest[i : i + 4], "big") for i in (0, 4, 8, 12))
    if female % 2:
        firsts, lasts = RussianNames.first_names_female, RussianNames.last_names_female
    else:
        firsts, lasts = RussianNames.first_names_male, RussianNames.last_names_male
    city_id = CITIES[bisect.bisect(_CITY_CUM, place / 2**32 * _CITY_CUM[-1])][0]
    return Customer(customer_id, firsts[first % len(firsts)], lasts[last % len(lasts)], city_id)


def customer_pool(scale: float) -> int:
    return max(MIN_CUSTOMERS, round(CUSTOMERS_PER_SCALE * scale))


def price(seed: int, item: Item, day: date) -> float:
    """The item's price on `day`: the base price moved by up to ±5 %, in whole kopecks."""
    return round(
        item.base_price * (1 + rng_for(seed, "price", item.item_id, day).uniform(-0.05, 0.05)), 2
    )


def order_lines(seed: int, day: date, scale: float) -> int:
    """How many clean order lines the day has: the daily volume ±15 %."""
    factor = rng_for(seed, "volume", day).uniform(0.85, 1.15)
    return max(1, round(ORDER_LINES_PER_DAY * scale * factor))


def is_old_layout(seed: int, day: date) -> bool:
    """Whether the shop exports the day's user_order_log without `status` (about 1 day in 7)."""
    return rng_for(seed, "layout", day).random() < OLD_LAYOUT_SHARE


def header(name: str, old_layout: bool = False) -> tuple[str, ...]:
    columns = S3_FILES[name].columns
    if name == "user_order_log.csv" and old_layout:
        return tuple(column for column in columns if column != "status")
    return columns


def _clock(day: date, count: int, rng) -> Iterator[str]:
    """`count` non-decreasing timestamps spread over the day."""
    prefix = day.isoformat()
    for index in range(count):
        seconds = min(86_399, int((index + rng.random()) * 86_400 / count))
        hours, rest = divmod(seconds, 3600)
        yield f"{prefix} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _draw_customer(seed: int, rng, pool: int) -> Customer:
    # Skewed: low ids buy often, high ids rarely, so weeks have both new and returning buyers.
    return customer(seed, 1 + int(pool * rng.random() ** 2))


# --- clean lines, one generator per file ----------------------------------------------------------


def _order_log(seed: int, day: date, scale: float, old_layout: bool, manifest: Manifest):
    rng = rng_for(seed, "orders", day)
    pool = customer_pool(scale)
    prices = {item.item_id: f"{price(seed, item, day):.2f}" for item in ITEMS}
    recent: deque[tuple[str, ...]] = deque(maxlen=1000)
    count = order_lines(seed, day, scale)
    for number, moment in enumerate(_clock(day, count, rng), start=1):
        uniq_id = f"{rng.getrandbits(128):032x}"
        if not old_layout and recent and rng.random() < REFUND_SHARE:
            bought = recent[rng.randrange(len(recent))]
            fields = [str(number), uniq_id, moment, *bought[3:12], "refunded"]
        else:
            buyer = _draw_customer(seed, rng, pool)
            item = ITEMS[bisect.bisect(_ITEM_CUM, rng.random() * _ITEM_CUM[-1])]
            quantity = 1 + bisect.bisect(_QUANTITY_CUM, rng.random() * _QUANTITY_CUM[-1])
            amount = f"{quantity * float(prices[item.item_id]):.2f}"
            fields = [
                str(number),
                uniq_id,
                moment,
                str(buyer.city_id),
                CITY_NAMES[buyer.city_id],
                str(buyer.customer_id),
                buyer.first_name,
                buyer.last_name,
                str(item.item_id),
                item.name,
                str(quantity),
                amount,
                "shipped",
            ]
            recent.append(tuple(fields))  # a copy: dirt edits `fields` in place
        manifest.counts[f"user_order_log.csv:{fields[12]}"] += 1
        yield fields[:12] if old_layout else fields


def _activity_log(seed: int, day: date, scale: float, old_layout: bool, manifest: Manifest):
    rng = rng_for(seed, "activity", day)
    pool = customer_pool(scale)
    count = order_lines(seed, day, scale) * ACTIVITY_PER_ORDER_LINE
    for number, moment in enumerate(_clock(day, count, rng), start=1):
        action = _ACTION_IDS[bisect.bisect(_ACTION_CUM, rng.random() * _ACTION_CUM[-1])]
        yield [
            str(number),
            f"{rng.getrandbits(128):032x}",
            moment,
            str(action),
            str(_draw_customer(seed, rng, pool).customer_id),
            str(rng.randint(1, 3)),
        ]


def _customer_research(seed: int, day: date, scale: float, old_layout: bool, manifest: Manifest):
    rng = rng_for(seed, "research", day)
    for category_id in CATEGORIES:
        items = [item for item in ITEMS if item.category_id == category_id]
        average = sum(item.base_price for item in items) / len(items)
        for city_id, _, weight in CITIES:
            quantity = max(0, round(weight * 20 * scale * rng.uniform(0.5, 1.5)))
            amount = quantity * average * rng.uniform(0.9, 1.1)
            yield [day.isoformat(), str(category_id), str(city_id), str(quantity), f"{amount:.2f}"]


def _price_log(seed: int, day: date, scale: float, old_layout: bool, manifest: Manifest):
    for item in ITEMS:
        yield [
            f"{day.isoformat()} 00:00:00",
            str(item.category_id),
            CATEGORIES[item.category_id],
            str(item.item_id),
            f"{price(seed, item, day):.2f}",
        ]


@dataclass(frozen=True)
class FileSpec:
    """How a file's clean lines are made and which dirt may touch which columns."""

    lines: Callable[[int, date, float, bool, Manifest], Iterator[list[str]]]
    kinds: tuple[str, ...]
    whitespace: tuple[str, ...] = ()
    null: tuple[str, ...] = ()
    # values that get an unquoted comma for `long` rows (a decimal comma, a name with a suffix)
    comma: tuple[tuple[str, str], ...] = ()


_NAMES = ("first_name", "last_name", "city_name", "item_name")
FILES: dict[str, FileSpec] = {
    "user_order_log.csv": FileSpec(
        _order_log,
        ("duplicate", "whitespace", "null", "short", "long", "quote", "unknown_status"),
        whitespace=_NAMES,
        null=_NAMES,
        comma=(("last_name", "{}, мл."), ("payment_amount", "{},00")),
    ),
    "user_activity_log.csv": FileSpec(
        _activity_log,
        ("duplicate", "whitespace", "short", "long", "quote"),
        whitespace=("action_id", "customer_id", "quantity"),
        comma=(("quantity", "{},5"),),
    ),
    "customer_research.csv": FileSpec(
        _customer_research,
        ("duplicate", "whitespace", "short", "quote"),
        whitespace=("category_id", "geo_id"),
    ),
    "price_log.csv": FileSpec(
        _price_log,
        ("duplicate", "whitespace", "short", "long", "quote"),
        whitespace=("category_name",),
        comma=(("price", "{},90"),),
    ),
}
# What the loader must refuse into rejects; everything else lands as-is for dbt staging.
REJECTED_KINDS = ("short", "long", "quote", "unknown_status")
LANDED_KINDS = ("duplicate", "whitespace", "null")


def _dirty(
    name: str, columns: tuple[str, ...], lines: Iterable[list[str]], rng, rate: float, manifest
) -> Iterator[str]:
    """Lines of text with dirt injected; a duplicate comes back a few lines after its original."""
    spec = FILES[name]
    kinds = [
        kind
        for kind in spec.kinds
        if not (kind == "unknown_status" and "status" not in columns)
        and not (kind == "long" and not any(col in columns for col, _ in spec.comma))
    ]
    position = {column: index for index, column in enumerate(columns)}
    pending: deque[tuple[int, str]] = deque()
    for number, fields in enumerate(lines):
        while pending and pending[0][0] <= number:
            yield pending.popleft()[1]
        manifest.counts[f"{name}:clean"] += 1
        kind = rng.choice(kinds) if rng.random() < rate else None
        if kind == "whitespace":
            index = position[rng.choice(spec.whitespace)]
            fields[index] = rng.choice(("  {} ", " {}", "{}  ", "\t{} ")).format(fields[index])
        elif kind == "null":
            fields[position[rng.choice(spec.null)]] = ""
        elif kind == "short":
            fields = fields[:-1]
        elif kind == "long":
            column, pattern = rng.choice([c for c in spec.comma if c[0] in position])
            fields[position[column]] = pattern.format(fields[position[column]])
        elif kind == "quote":
            index = rng.randrange(len(fields))
            fields[index] = '"' + fields[index]
        elif kind == "unknown_status":
            fields[position["status"]] = rng.choice(UNKNOWN_STATUSES)
        line = ",".join(fields)
        if kind is not None:
            manifest.dirt[f"{name}:{kind}"] += 1
        if kind == "duplicate":
            pending.append((number + rng.randint(1, 50), line))
        yield line
    while pending:
        yield pending.popleft()[1]


def render_file(
    name: str,
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    manifest: Manifest | None = None,
    old_layout: bool | None = None,
    progress: tqdm | None = None,
) -> Iterator[bytes]:
    """The file's bytes in chunks of about 1 MiB: header, then data lines ('\\n'-terminated).

    Pure and streaming: the same arguments give the same bytes, in constant memory. `manifest`
    is filled as the chunks are consumed.
    """
    manifest = manifest if manifest is not None else Manifest(day)
    if old_layout is None:
        old_layout = is_old_layout(seed, day)
    columns = header(name, old_layout)
    if name == "user_order_log.csv" and old_layout:
        manifest.dirt[f"{name}:old_layout"] += 1
    spec = FILES[name]
    lines = spec.lines(seed, day, scale, old_layout, manifest)
    rng = rng_for(seed, "dirt", name, day)
    clean_key = f"{name}:clean"
    reported = manifest.counts[clean_key]
    buffer = [",".join(columns)]
    size = 0
    for line in _dirty(name, columns, lines, rng, dirt_rate, manifest):
        manifest.counts[name] += 1
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES // 2:  # characters are up to 2 bytes in these files
            yield ("\n".join(buffer) + "\n").encode()
            buffer, size = [], 0
            if progress is not None:  # clean lines, the unit of expected_lines()
                progress.update(manifest.counts[clean_key] - reported)
                reported = manifest.counts[clean_key]
    if buffer:
        yield ("\n".join(buffer) + "\n").encode()
    if progress is not None:
        progress.update(manifest.counts[clean_key] - reported)


def generate(
    day: date,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    old_layout: bool | None = None,
) -> tuple[dict[str, bytes], Manifest]:
    """Every file of the day in memory, and the manifest: for tests and small scales."""
    manifest = Manifest(day)
    files = {
        name: b"".join(render_file(name, day, seed, scale, dirt_rate, manifest, old_layout))
        for name in FILES
    }
    return files, manifest


def expected_lines(day: date, seed: int = DEFAULT_SEED, scale: float = 1.0) -> int:
    """How many clean lines (before dirt) the day's files hold: the progress bar's total."""
    orders = order_lines(seed, day, scale)
    return orders * (1 + ACTIVITY_PER_ORDER_LINE) + len(CATEGORIES) * len(CITIES) + len(ITEMS)


def publish_day(
    day: date,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    dirt_rate: float = DEFAULT_DIRT_RATE,
    old_layout: bool | None = None,
) -> Manifest:
    """Write the day's four files to the bucket and return the manifest.

    Idempotent: the same arguments write the same bytes to the same keys. Each file is spooled
    to a temporary file first, so memory stays flat at any scale and the upload can be multipart.
    """
    from ingest import s3

    client = s3.client(settings)
    s3.ensure_bucket(settings, client)
    bucket = settings["DWH_S3_BUCKET"]
    manifest = Manifest(day)
    total = expected_lines(day, seed, scale)
    with tqdm(
        total=total,
        unit=" lines",
        unit_scale=True,
        desc=f"sales {day}",
        disable=None if total >= PROGRESS_MIN_LINES else True,
    ) as progress:
        for name in FILES:
            with tempfile.TemporaryFile() as spool:
                chunks = render_file(
                    name, day, seed, scale, dirt_rate, manifest, old_layout, progress
                )
                for chunk in chunks:
                    spool.write(chunk)
                spool.seek(0)
                client.upload_fileobj(spool, bucket, s3.day_prefix(day, settings) + name)
    return manifest
