"""Landing tables: every source lands as text, as-is, plus load metadata.

Typing, trimming and deduplication happen in dbt staging; the landing keeps what arrived.
Content columns are text. Load metadata columns have a portable type (`text`, `int`,
`timestamp`) that each sink maps to its engine. Every table also gets `_batch_date` (the day of
the batch, the unit a reload replaces) and `_loaded_at`, added by the sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH_COLUMNS = ("_batch_date", "_loaded_at")
REJECT_COLUMNS = ("reason", "raw", "origin")


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[str, ...]
    # load metadata before _batch_date: (name, portable type)
    meta: tuple[tuple[str, str], ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Columns a sink writes, in order: content, metadata, then _batch_date."""
        return (*self.columns, *(name for name, _ in self.meta), BATCH_COLUMNS[0])

    @property
    def rejects(self) -> Table:
        """Rows of this table that could not be read: why, the raw text, and where from."""
        return Table(self.schema, f"{self.name}_rejects", REJECT_COLUMNS)


# --- faker: application data ------------------------------------------------------------------

PERSONS = Table(
    "raw_faker",
    "persons",
    (
        "id",
        "name",
        "age",
        "address",
        "email",
        "phone_number",
        "registration_date",
        "created_at",
        "updated_at",
        "deleted_at",
    ),
)

SHOP_USERS = Table(
    "raw_faker",
    "users",
    (
        "user_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "registration_date",
        "loyalty_status",
    ),
)
SHOP_PRODUCT_CATEGORIES = Table(
    "raw_faker", "product_categories", ("category_id", "name", "parent_category_id")
)
SHOP_PRODUCTS = Table(
    "raw_faker",
    "products",
    (
        "product_id",
        "name",
        "description",
        "category_id",
        "price",
        "stock_quantity",
        "creation_date",
    ),
)
SHOP_ORDERS = Table(
    "raw_faker",
    "orders",
    ("order_id", "user_id", "order_date", "total_amount", "status", "delivery_date"),
)
SHOP_ORDER_DETAILS = Table(
    "raw_faker",
    "order_details",
    ("order_detail_id", "order_id", "product_id", "quantity", "price_per_unit", "total_price"),
)

# --- S3: CSV files <prefix>/<YYYY-MM-DD>/<file>.csv ----------------------------------------------

S3_FILE_META = (("_source_file", "text"), ("_line_number", "int"))

USER_ORDER_LOG = Table(
    "raw_s3",
    "user_order_log",
    (
        "id",
        "uniq_id",
        "date_time",
        "city_id",
        "city_name",
        "customer_id",
        "first_name",
        "last_name",
        "item_id",
        "item_name",
        "quantity",
        "payment_amount",
        "status",
    ),
    S3_FILE_META,
)
USER_ACTIVITY_LOG = Table(
    "raw_s3",
    "user_activity_log",
    ("id", "uniq_id", "date_time", "action_id", "customer_id", "quantity"),
    S3_FILE_META,
)
CUSTOMER_RESEARCH = Table(
    "raw_s3",
    "customer_research",
    ("date_id", "category_id", "geo_id", "sales_qty", "sales_amt"),
    S3_FILE_META,
)
PRICE_LOG = Table(
    "raw_s3",
    "price_log",
    ("date_time", "category_id", "category_name", "item_id", "price"),
    S3_FILE_META,
)
S3_FILES = {
    "user_order_log.csv": USER_ORDER_LOG,
    "user_activity_log.csv": USER_ACTIVITY_LOG,
    "customer_research.csv": CUSTOMER_RESEARCH,
    "price_log.csv": PRICE_LOG,
}
# One row per file of a day's folder: the outcome of its last load (status loaded | refused |
# skipped, error when not loaded); `_loaded_at` says when. Written by ingest/loaders/s3.py.
LOAD_LOG = Table(
    "raw_s3",
    "load_log",
    ("file", "table_name", "etag", "status", "error"),
    (("size", "int"), ("rows_loaded", "int"), ("rows_rejected", "int")),
)

# --- Kafka: one table per topic, every message as-is -------------------------------------------

KAFKA_META = (
    ("_topic", "text"),
    ("_partition", "int"),
    ("_offset", "int"),
    ("_key", "text"),
    ("_timestamp", "timestamp"),
)
NEW_USERS_EVENTS = Table("raw_kafka", "new_users_events", ("payload",), KAFKA_META)
TRANSACTION_SERVICE_INPUT = Table(
    "raw_kafka", "transaction_service_input", ("payload",), KAFKA_META
)
KAFKA_TOPICS = {
    "new_users_events": NEW_USERS_EVENTS,
    "transaction-service-input": TRANSACTION_SERVICE_INPUT,
}
