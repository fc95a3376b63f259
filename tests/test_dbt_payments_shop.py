"""Payments and Shop, landed from the real generators and built on Postgres and ClickHouse.

The marts must agree across engines row by row, stay identical through re-runs and backfills,
and `global_metrics` must equal a recount in Python from the generator's own messages.

dbt runs in this process (dbtRunner) with one parsed manifest per engine: every run passes a
different `run_date` var, and a fresh `dbt` process would re-parse the project for each one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from dbt.cli.main import dbtRunner
from psycopg import sql

from ingest import topics
from ingest.engines import fetch
from ingest.generators import payments, shop
from ingest.landing import NEW_USERS_EVENTS, SHOP_USERS, TRANSACTION_SERVICE_INPUT, Table
from ingest.loaders import kafka
from ingest.loaders import shop as shop_loader
from ingest.settings import Settings
from ingest.sinks import connect
from ingest.sinks.clickhouse import quote as ch_quote

TARGETS = ["postgres", "clickhouse"]
# payments days of their own (other tests may land the usual October days)
PAY_DAYS = [date(2022, 12, 30), date(2022, 12, 31), date(2023, 1, 1)]
SHOP_DAYS = [shop.OPENING + timedelta(days=n) for n in range(3)]
PAY_SCALE = 0.05  # 100 operations a day
SHOP_SCALE = 0.1
DIRT = 0.05
MY_MODELS = [
    "path:models/staging/kafka",
    "path:models/dwh/payments",
    "path:models/dwh/shop",
    "path:models/marts/payments",
    "path:models/marts/shop",
    "stg_faker__users",
    "stg_faker__product_categories",
    "stg_faker__products",
    "stg_faker__orders",
    "stg_faker__order_details",
    "d_calendar",  # the relationships tests' calendar
]
# the incremental models and what they read, re-run and backfilled below
INCREMENTAL = [
    "stg_kafka__transactions",
    "f_transactions",
    "global_metrics",
    "f_orders",
    "f_order_details",
    "stg_faker__users",
    "stg_kafka__new_users",
    "d_shop_users",
]
PAY_WINDOW = {"first": PAY_DAYS[0], "last": PAY_DAYS[-1]}

# each mart and fact with its columns, in a stable order; dated payments tables only for our days
QUERIES = {
    "global_metrics": """
        select date_update, currency_from, amount_total, cnt_transactions,
            avg_transactions_per_account, cnt_accounts_make_transactions
        from marts.global_metrics
        where date_update between %(first)s and %(last)s
        order by date_update, currency_from""",
    "f_transactions": """
        select transaction_date, operation_id, account_number_from, account_number_to,
            currency_code, country, status, transaction_type, amount, transaction_dt, sent_dttm
        from dwh.f_transactions
        where transaction_date between %(first)s and %(last)s
        order by operation_id""",
    "mart_user_activity": """
        select user_id, first_name, last_name, status, order_count, total_spent
        from marts.mart_user_activity
        order by user_id, status""",
    "mart_product_sales": """
        select product_id, name, status, total_quantity_sold, total_sales
        from marts.mart_product_sales
        order by product_id, status""",
    "mart_average_check": """
        select status, loyalty_status, average_check
        from marts.mart_average_check
        order by status, loyalty_status""",
    "f_orders": """
        select order_date, order_id, user_id, status, total_amount, ordered_at, delivered_at
        from dwh.f_orders
        order by order_id""",
    "d_shop_users": """
        select user_id, first_name, last_name, email, phone, registration_date, loyalty_status,
            known_from
        from dwh.d_shop_users
        order by user_id""",
    "f_order_details": """
        select order_date, order_detail_id, order_id, product_id, quantity, price_per_unit,
            total_price
        from dwh.f_order_details
        order by order_detail_id""",
}


class Dbt:
    """dbt for one target, in this process, parsing the project once."""

    def __init__(self, settings: Settings, target: str) -> None:
        self.target = target
        self.common = [
            "--project-dir", str(settings.dbt_project_dir),
            "--profiles-dir", str(settings.dbt_project_dir),
            "--target", target,
            "--target-path", f"target/test-{target}",
            "--quiet",
        ]  # fmt: skip
        parsed = dbtRunner().invoke(["parse", *self.common])
        assert parsed.success, parsed.exception
        self.manifest = parsed.result

    def __call__(self, *args: str, run_date: date | None = None) -> None:
        extra = ["--vars", json.dumps({"run_date": run_date.isoformat()})] if run_date else []
        result = dbtRunner(manifest=self.manifest).invoke([*args, *self.common, *extra])
        assert result.success, f"dbt {' '.join(args)} on {self.target} failed: {result.exception}"


def normal(value: object) -> object:
    """A value as both engines' drivers can agree on it (numbers to 2 decimals)."""
    if isinstance(value, (Decimal, float)):
        return str(Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def rows(target: str, settings: Settings, name: str) -> list[tuple]:
    return [tuple(map(normal, row)) for row in fetch(target, settings, QUERIES[name], PAY_WINDOW)]


def checksums(target: str, settings: Settings) -> dict[str, str]:
    return {
        name: hashlib.sha256(repr(rows(target, settings, name)).encode()).hexdigest()
        for name in QUERIES
    }


@pytest.fixture(scope="module")
def built(dwh: Settings) -> Iterator[dict[str, Dbt]]:
    """Publish the days to topics of our own, land them on both engines, build our models."""
    suffix = uuid.uuid4().hex[:8]
    pay_topic, users_topic = f"test-payments-{suffix}", f"test-new-users-{suffix}"
    for day in PAY_DAYS:
        payments.publish_day(day, dwh, scale=PAY_SCALE, dirt_rate=DIRT, topic=pay_topic)
    for day in SHOP_DAYS:
        shop.publish_events(day, dwh, scale=SHOP_SCALE, dirt_rate=DIRT, topic=users_topic)
    runners = {}
    for target in TARGETS:
        for day in SHOP_DAYS:
            shop_loader.load_day(day, target, dwh, scale=SHOP_SCALE, dirt_rate=DIRT)
        assert kafka.drain(pay_topic, TRANSACTION_SERVICE_INPUT, target, dwh).loaded
        assert kafka.drain(users_topic, NEW_USERS_EVENTS, target, dwh).loaded
        runners[target] = Dbt(dwh, target)
        runners[target](
            "build", "--full-refresh", "--indirect-selection", "cautious", "--select", *MY_MODELS
        )
    yield runners


@pytest.mark.parametrize("name", list(QUERIES))
def test_engines_agree_row_by_row(built, dwh, name):
    postgres = rows("postgres", dwh, name)
    assert postgres, f"{name} is empty"
    assert postgres == rows("clickhouse", dwh, name)


def recount_global_metrics(day: date) -> list[tuple]:
    """global_metrics for `day` from the generator's messages, without SQL."""
    rates: dict[tuple[date, int], tuple[str, Decimal]] = {}
    latest: dict[str, tuple[str, dict]] = {}
    for sent_day in PAY_DAYS:
        messages, _ = payments.generate(sent_day, scale=PAY_SCALE, dirt_rate=DIRT)
        for message in messages:
            try:
                doc = json.loads(message.value.decode("utf-8"), parse_float=Decimal)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # the loader's rejects
            body, sent = doc["payload"], doc["sent_dttm"]
            if doc["object_type"] == "CURRENCY":
                if body["currency_code_with"] == payments.USD:
                    key = (date.fromisoformat(body["date_update"][:10]), body["currency_code"])
                    if key not in rates or sent >= rates[key][0]:
                        rates[key] = (sent, Decimal(body["currency_with_div"]))
                continue
            status = body["status"].strip().lower()
            if status not in payments.STATUSES:
                continue  # not a status change
            operation = body["operation_id"].strip().lower()
            if operation not in latest or sent >= latest[operation][0]:
                latest[operation] = (sent, {**body, "status": status})
    per_currency: dict[int, list[dict]] = defaultdict(list)
    for _, body in latest.values():
        if (
            body["status"] == "done"
            and body["transaction_dt"][:10] == day.isoformat()
            and body["account_number_from"] > 0
            and body["account_number_to"] > 0
        ):
            per_currency[body["currency_code"]].append(body)
    cent = Decimal("0.01")
    found = []
    for currency, done in sorted(per_currency.items()):
        if currency == payments.USD:
            rate = Decimal(1)
        else:
            known = max(d for d, code in rates if code == currency and d <= day)
            rate = rates[(known, currency)][1]
        amount = sum(Decimal(body["amount"]) for body in done) * rate
        accounts = len({body["account_number_from"] for body in done})
        found.append(
            (
                day.isoformat(),
                currency,
                str(amount.quantize(cent, ROUND_HALF_UP)),
                len(done),
                str((Decimal(len(done)) / accounts).quantize(cent, ROUND_HALF_UP)),
                accounts,
            )
        )
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_global_metrics_equals_a_recount_from_the_messages(built, dwh, target):
    day = PAY_DAYS[1]
    expected = recount_global_metrics(day)
    assert len(expected) > 3 and all(row[3] > 1 for row in expected)
    mart = [row for row in rows(target, dwh, "global_metrics") if row[0] == day.isoformat()]
    assert mart == expected


@pytest.mark.parametrize("target", TARGETS)
def test_reruns_and_backfills_change_nothing(built, dwh, target):
    dbt = built[target]
    run = ("run", "--select", *INCREMENTAL)
    before = checksums(target, dwh)
    last = PAY_DAYS[-1]
    dbt(*run, run_date=last)
    assert checksums(target, dwh) == before
    dbt(*run, run_date=last)
    assert checksums(target, dwh) == before
    for back in (3, 2, 1, 0):
        dbt(*run, run_date=last - timedelta(days=back))
    dbt(*run, run_date=last)
    assert checksums(target, dwh) == before
    # the shop's days too: their window holds orders whose status changed later
    dbt(*run, run_date=SHOP_DAYS[1])
    assert checksums(target, dwh) == before


def register(dwh: Settings, topic: str, target: str, user_id: int, day: date, name: str) -> None:
    """Publish a registration of `user_id` sent at noon (UTC) on `day`, and land the topic."""
    payload = {
        "user_id": user_id,
        "first_name": name,
        "last_name": "Registration",
        "email": f"{name.lower()}@example.com",
        "phone": None,
        "registration_date": day.isoformat(),
        "loyalty_status": "Gold",
    }
    send(dwh, topic, NEW_USERS_EVENTS, target, payload, datetime(day.year, day.month, day.day, 12))


def send(
    dwh: Settings, topic: str, table: Table, target: str, payload: dict, sent: datetime
) -> None:
    """Publish `payload` with the Kafka timestamp `sent` (UTC; its batch's day), land the topic."""
    # Created first, kept forever: auto-created, it would delete these 2022 messages by retention.
    topics.ensure_topic(dwh, topic, partitions=1)
    out = topics.producer(dwh)
    stamp = int(sent.replace(tzinfo=UTC).timestamp() * 1000)
    out.send(topic, value=json.dumps(payload).encode(), timestamp_ms=stamp)
    out.flush()
    out.close()
    assert kafka.drain(topic, table, target, dwh).loaded


def forget_topic(target: str, dwh: Settings, topic: str, table: Table) -> None:
    """Delete the messages of `topic` from the landed `table`."""
    sink = connect(target, dwh)
    try:
        if target == "postgres":
            with sink.conn.transaction():
                sink.conn.execute(
                    sql.SQL("delete from {} where _topic = %s").format(
                        sql.Identifier(table.schema, table.name)
                    ),
                    (topic,),
                )
        else:
            sink.client.command(
                f"alter table {ch_quote(table.schema)}.{ch_quote(table.name)}"
                " delete where _topic = {topic:String}",
                parameters={"topic": topic},
                settings={"mutations_sync": 2},
            )
    finally:
        sink.close()


@pytest.mark.parametrize("target", TARGETS)
def test_a_late_registration_loses_to_a_stored_later_one(built, dwh, target):
    """A day's run of the shop users ranks its window's messages with the users stored.

    A new user registers: that day's run takes the registration. Then an earlier registration
    of the same user arrives late and lands in the batch of its own (earlier) day, alone in that
    day's window: the backfill of that day keeps the later registration. The users then equal
    a full build.
    """
    dbt = built[target]
    selection = ("--select", "stg_kafka__new_users", "d_shop_users")
    topic = f"test-late-registrations-{uuid.uuid4().hex[:8]}"
    user_id = 10**9 + TARGETS.index(target)
    later, earlier = SHOP_DAYS[-1] + timedelta(days=10), SHOP_DAYS[0] - timedelta(days=10)
    query = """
        select user_id, first_name, last_name, email, loyalty_status, _batch_date
        from staging.stg_kafka__new_users
        order by user_id"""

    def users() -> list[tuple]:
        registered = [tuple(map(normal, row)) for row in fetch(target, dwh, query)]
        return [*registered, *rows(target, dwh, "d_shop_users")]

    def names() -> list[str]:
        return [row[1] for row in users() if row[0] == user_id]

    try:
        register(dwh, topic, target, user_id, later, "Later")
        dbt("run", *selection, run_date=later)
        assert names() == ["Later", "Later"]  # staging and d_shop_users
        register(dwh, topic, target, user_id, earlier, "Early")
        dbt("run", *selection, run_date=earlier)
        assert names() == ["Later", "Later"]
        daily = users()
        dbt("run", "--full-refresh", *selection)
        assert users() == daily, f"the run of {earlier} differs from a full build"
    finally:
        forget_topic(target, dwh, topic, NEW_USERS_EVENTS)
        dbt("run", "--full-refresh", *selection)


@pytest.mark.parametrize("target", TARGETS)
def test_a_users_latest_export_wins_over_the_stored_row(built, dwh, target):
    """A day's run of the faker users ranks its window's exports with the users stored.

    A user exported on a later day is taken by that day's run. An earlier export landed
    afterwards, alone in its day's window, loses to the stored later one (the backfill of that
    day); an export after both wins. Each time the users equal a full build. The exports have no
    registration date: the user keeps a NULL one (ClickHouse refused the build before).
    """
    dbt = built[target]
    selection = ("--select", "stg_faker__users")
    user_id = 10**9 + TARGETS.index(target)
    earlier, later = SHOP_DAYS[0] - timedelta(days=10), SHOP_DAYS[-1] + timedelta(days=10)
    latest = later + timedelta(days=10)
    query = "select * from staging.stg_faker__users order by user_id"
    sink = connect(target, dwh)

    def export(day: date, name: str | None) -> None:
        rows = [] if name is None else [(f" {user_id} ", name, "Export", None, None, None, "Gold")]
        sink.replace_batch(SHOP_USERS, day, rows)

    def run_day(day: date) -> str:
        """The user's first name after the day's run, once the users equal a full build."""
        dbt("run", *selection, run_date=day)
        daily = fetch(target, dwh, query)
        dbt("run", "--full-refresh", *selection)
        assert fetch(target, dwh, query) == daily, f"the run of {day} differs from a full build"
        (user,) = [row for row in daily if row[0] == user_id]
        assert user[5] is None  # registration_date
        return user[1]

    try:
        export(later, "Later")
        assert run_day(later) == "Later"
        export(earlier, "Early")
        assert run_day(earlier) == "Later"
        export(latest, "Latest")
        assert run_day(latest) == "Latest"
    finally:
        for day in (earlier, later, latest):
            export(day, None)
        sink.close()
        dbt("run", "--full-refresh", *selection)


@pytest.mark.parametrize("target", TARGETS)
def test_an_operations_messages_outside_the_window_are_ranked_with_it(built, dwh, target):
    """A day's run of the transactions finds the operation's messages in other batches.

    An operation is done on its first day. Ten days later it sends a status nobody knows, alone
    in that day's window: it stays done, with one unknown status (the done message is outside
    the window, in the batches the stored operation spans). Then a message sent ten days before
    it began lands in its own batch: that day's run finds the done message after its window.
    Each time the transactions equal a full build.
    """
    dbt = built[target]
    selection = ("--select", "stg_kafka__transaction_service_messages", "stg_kafka__transactions")
    topic = f"test-late-statuses-{uuid.uuid4().hex[:8]}"
    operation = str(uuid.uuid4())
    began = datetime.combine(PAY_DAYS[-1] + timedelta(days=20), datetime.min.time())
    query = "select * from staging.stg_kafka__transactions order by operation_id"
    mine = """
        select status, unknown_status_messages
        from staging.stg_kafka__transactions
        where operation_id = %(operation)s"""

    def message(status: str, sent: datetime) -> None:
        body = {"operation_id": operation, "status": status, "amount": 10.5,
                "currency_code": 420, "transaction_dt": began.isoformat(" ")}  # fmt: skip
        payload = {"object_id": operation, "object_type": "TRANSACTION",
                   "sent_dttm": sent.isoformat(), "payload": body}  # fmt: skip
        send(dwh, topic, TRANSACTION_SERVICE_INPUT, target, payload, sent)

    def run_day(day: datetime) -> tuple:
        """(status, unknown statuses) after the day's run, once it equals a full build."""
        dbt("run", *selection, run_date=day.date())
        daily = fetch(target, dwh, query)
        dbt("run", "--full-refresh", *selection)
        assert fetch(target, dwh, query) == daily, f"the run of {day} differs from a full build"
        (found,) = fetch(target, dwh, mine, {"operation": operation})
        return found

    try:
        message("queued", began + timedelta(hours=10))
        message("done", began + timedelta(hours=11))
        assert run_day(began) == ("done", 0)
        later = began + timedelta(days=10, hours=9)
        message("processing", later)
        assert run_day(later) == ("done", 1)
        earlier = began - timedelta(days=10)
        message("queued", earlier)
        assert run_day(earlier) == ("done", 1)
    finally:
        forget_topic(target, dwh, topic, TRANSACTION_SERVICE_INPUT)
        dbt("run", "--full-refresh", *selection)
