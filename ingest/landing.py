"""Landing tables: every source lands as text, as-is, plus load metadata.

Typing, trimming and deduplication happen in dbt staging; the landing keeps what arrived.
A batch is identified by `_batch_date` (one day of one source) and is replaced as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

# Appended to every landing table by the sinks.
BATCH_COLUMNS = ("_batch_date", "_loaded_at")


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[str, ...]

    @property
    def rejects(self) -> Table:
        """The table for rows of this one that could not be read, with why and from where."""
        return Table(self.schema, f"{self.name}_rejects", REJECT_COLUMNS)


REJECT_COLUMNS = ("reason", "raw", "origin")

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
