"""One CSV line at a time (RFC 4180 quoting), keeping NULL (empty, unquoted) apart from ''.

Python's csv module reads both as '' before 3.12; the loaders and sinks need the difference,
because Postgres, ClickHouse and Vertica all load an empty unquoted field as NULL.
Also the escaping of values in the text format that Postgres `COPY` and ClickHouse
`TabSeparated` both read.
"""

from __future__ import annotations

from collections.abc import Iterable

QUOTING = "bad CSV quoting"


class LineError(ValueError):
    """Why one line cannot be read; the message is the reject reason."""


def parse_line(text: str) -> list[str | None]:
    """Fields of one CSV line (no line terminator). An empty unquoted field is None.

    Strict: a quote inside an unquoted field, text after a closing quote or an unterminated
    quoted field raise LineError.
    """
    fields: list[str | None] = []
    i, end = 0, len(text)
    while True:
        if i < end and text[i] == '"':
            parts, j = [], i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise LineError(f"{QUOTING}: unterminated quoted field")
                parts.append(text[j:k])
                if text.startswith('"', k + 1):
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append("".join(parts))
            if i == end:
                return fields
            if text[i] != ",":
                raise LineError(f"{QUOTING}: text after a closing quote")
            i += 1
        else:
            k = text.find(",", i)
            value = text[i:] if k < 0 else text[i:k]
            if '"' in value:
                raise LineError(f"{QUOTING}: quote inside an unquoted field")
            fields.append(value or None)
            if k < 0:
                return fields
            i = k + 1


def quote(value: str | None) -> str:
    """One CSV field: None as nothing, any other value quoted (quotes doubled)."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def format_line(fields: Iterable[str | None]) -> str:
    """One CSV line, no terminator: every value quoted, so any reader gets it back exactly."""
    return ",".join(map(quote, fields))


def escape(text: str) -> str:
    """A value in text format (Postgres COPY, ClickHouse TabSeparated): \\, tab, LF, CR escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
