"""Sales CSV files in S3 -> raw_s3: each file of a day's folder streamed to the engine's bulk path.

A file is read in blocks of about 1 MiB and never held whole in memory. Every line is checked
(UTF-8, CSV quoting, number of fields, status) and a good line is passed on as CSV bytes with the
load metadata appended (`_source_file`, `_line_number`, `_batch_date`), straight into the sink's
bulk path: Postgres `COPY ... (format csv)`, ClickHouse `INSERT ... FORMAT CSV` over HTTP, Vertica
`COPY ... FROM STDIN`. A line with nothing unusual is passed on byte for byte; a line with quotes,
backslashes or carriage returns is re-written with every value quoted, so the three engines read
the same values. An empty unquoted field is NULL; a quoted empty field ("") is an empty string.

Lines are the unit: a quoted field never spans lines in these exports, so a stray quote costs one
line (rejected) instead of swallowing the rest of the file.

What happens to a file:
- header is the current layout or a known older one -> its rows replace the table's rows of that
  day (one file per table per day, so the day is the file) in one transaction; bad lines replace
  the day's rows of `<table>_rejects` with the reason, the raw line and `s3://bucket/key#line`;
- header is anything else -> the file is refused: nothing of it is loaded and what an earlier load
  landed for that day stays; the refusal is written to the load log, the other files of the day
  are loaded, then `HeaderError` is raised;
- a file name the warehouse does not know -> not loaded, written to the load log as `skipped`.
The load log `raw_s3.load_log` holds, per day, the outcome of the day's last load of each file:
size, ETag, rows loaded, rows rejected, status, error and `_loaded_at`.

Old-layout `user_order_log` lines (no `status`) land with `status` NULL: dbt staging reads a
missing status as `shipped`.
"""

from __future__ import annotations

import csv
import logging
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import compress, repeat
from operator import is_not, methodcaller
from queue import Empty, Full, Queue
from typing import Any

from ingest.csvline import QUOTING, LineError, escape, format_line, parse_line, quote
from ingest.landing import LOAD_LOG, S3_FILE_META, S3_FILES, Table
from ingest.loaders import LoadResult, RefusedError
from ingest.settings import Settings
from ingest.sinks import CSV_LINES, LineFormat, Row, Sink, connect

log = logging.getLogger(__name__)

READ_BYTES = 1 << 20
SOURCE_COLUMN = S3_FILE_META[0][0]  # `_source_file`: the same for every line of a file
MAX_HEADER_BYTES = 64 << 10
STATUSES = frozenset({"shipped", "refunded"})

# Reasons in the rejects tables start with one of these.
REASON_FIELDS = "wrong number of fields"
REASON_QUOTING = QUOTING
REASON_STATUS = "unknown status"
REASON_ENCODING = "not UTF-8"
REASON_NUL = "NUL byte"


@dataclass(frozen=True)
class Layout:
    """One known header of a file and how its lines map onto the landing table."""

    columns: tuple[str, ...]
    table: Table

    @property
    def missing(self) -> int:
        """Trailing table columns the layout lacks: loaded as NULL."""
        return len(self.table.columns) - len(self.columns)

    @property
    def status_index(self) -> int | None:
        return self.columns.index("status") if "status" in self.columns else None


def _layouts() -> dict[str, tuple[Layout, ...]]:
    known = {name: (Layout(table.columns, table),) for name, table in S3_FILES.items()}
    orders = S3_FILES["user_order_log.csv"]
    old = tuple(column for column in orders.columns if column != "status")
    known["user_order_log.csv"] += (Layout(old, orders),)
    return known


# file name -> (current layout, older layouts...)
LAYOUTS = _layouts()


class HeaderError(RefusedError):
    """A file's header is neither the current nor a known older layout: the file is refused."""

    def __init__(self, uri: str, found: tuple[str, ...] | None, expected: list[tuple[str, ...]]):
        self.uri, self.found, self.expected = uri, found, expected
        shown = " or ".join(",".join(columns) for columns in expected)
        shown_found = "" if found is None else ",".join(found)
        if len(shown_found) > 300:
            shown_found = shown_found[:300] + "…"
        what = "is empty" if found is None else f"has header {shown_found}"
        super().__init__(
            f"{uri} {what}; expected {shown}. Nothing was loaded from this file: fix the export "
            "(or teach ingest/loaders/s3.py LAYOUTS the new layout) and ingest the day again."
        )


def _check_status(value: str | None) -> None:
    if value is not None and value.strip() not in STATUSES:
        raise LineError(f"{REASON_STATUS} {value!r} (expected shipped or refunded)")


# A line goes the careful way if it has any of these (or is not valid UTF-8).
_SPECIAL = re.compile(rb'["\\\r\t\x00]')
_SPECIAL_BYTES = (b'"', b"\\", b"\r", b"\t", b"\x00")
_STATUS_BYTES = frozenset({b"shipped", b"refunded", b""})
_STATUS_ENDS = (b",shipped", b",refunded", b",")
_STATUS_ENDINGS = tuple(end + b"\n" for end in _STATUS_ENDS)
_NOT_COMMA_OR_NEWLINE = bytes(byte for byte in range(256) if byte not in b",\n")


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def read_line(layout: Layout, raw: bytes) -> list[str | None] | None:
    """None for a plain line that is good as it is; the fields of any other good line.

    Plain: UTF-8, no quote, backslash, CR, tab or NUL: the same bytes are a CSV line and a
    text-format line. LineError says why a line cannot be read.
    """
    expected = len(layout.columns)
    if _SPECIAL.search(raw) is None and _utf8(raw):
        commas = raw.count(b",")
        if commas != expected - 1:
            raise LineError(f"{REASON_FIELDS}: expected {expected}, found {commas + 1}")
        if layout.status_index is not None:
            status = raw.split(b",")[layout.status_index]
            if status not in _STATUS_BYTES:
                _check_status(status.decode())
        return None
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise LineError(f"{REASON_ENCODING}: {error.reason} at byte {error.start}") from None
    if "\x00" in text:
        raise LineError(f"{REASON_NUL} at character {text.index(chr(0)) + 1}")
    fields = parse_line(text)
    if len(fields) != expected:
        raise LineError(f"{REASON_FIELDS}: expected {expected}, found {len(fields)}")
    if layout.status_index is not None:
        _check_status(fields[layout.status_index])
    return fields


def text_line(fields: list[str | None], delimiter: bytes) -> bytes:
    """A line's values in text format (see LineFormat); none of them may be ''."""
    separator = delimiter.decode()
    escaped = f"\\{separator}"

    def value(field: str | None) -> str:
        if field is None:
            return ""
        text = escape(field)
        return text if separator == "\t" else text.replace(separator, escaped)

    return separator.join(map(value, fields)).encode()


def match_header(name: str, uri: str, line: bytes | None) -> Layout:
    """The layout this header announces; HeaderError if it is none of the known ones."""
    expected = [layout.columns for layout in LAYOUTS[name]]
    if line is None:
        raise HeaderError(uri, None, expected)
    try:
        fields = parse_line(line.decode("utf-8-sig").rstrip("\r"))
    except (UnicodeDecodeError, LineError):
        raise HeaderError(uri, (line.decode(errors="replace"),), expected) from None
    found = tuple((field or "").strip() for field in fields)
    for layout in LAYOUTS[name]:
        if found == layout.columns:
            return layout
    raise HeaderError(uri, found, expected)


class Rejects:
    """Rejected lines, spooled to disk past a few MiB so a very dirty file cannot fill memory."""

    def __init__(self) -> None:
        self.count = 0
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._spool)

    def add(self, reason: str, raw: bytes, origin: str) -> None:
        text = raw.decode(errors="backslashreplace").replace("\x00", "\\x00")
        self._writer.writerow((reason, text, origin))
        self.count += 1

    def rows(self) -> Iterator[Row]:
        self._spool.seek(0)
        for row in csv.reader(self._spool):
            yield tuple(row)

    def close(self) -> None:
        self._spool.close()


def _positions(block: bytes, needle: bytes) -> Iterator[int]:
    position = block.find(needle)
    while position >= 0:
        yield position
        position = block.find(needle, position + 1)


def _lines_of(block: bytes, positions: Iterable[int]) -> set[int]:
    """The indices of the lines holding these byte positions (one pass over the block)."""
    found, line, start = set(), 0, 0
    for position in sorted(positions):
        line += block.count(b"\n", start, position)
        start = position
        found.add(line)
    return found


def _bad_endings(block: bytes, count: int) -> list[int]:
    """Indices of the lines that do not end with an allowed status (or none).

    Counting the allowed endings answers "all good?" at C speed (the empty status last: it is
    the rare one, and the slowest to count). If not, every allowed ending is replaced by a
    marker: the newlines left are the bad lines' ends.
    """
    found = block.count(_STATUS_ENDINGS[0]) + block.count(_STATUS_ENDINGS[1])
    if found == count or found + block.count(_STATUS_ENDINGS[2]) == count:
        return []
    if b"\x01" in block or b"\r" in block:  # the marker is taken: ask each line
        lines = block.split(b"\n")[:count]
        ends = map(methodcaller("endswith", _STATUS_ENDS), lines)
        return [index for index, ok in enumerate(ends) if not ok]
    marked = block
    for ending in _STATUS_ENDINGS:
        marked = marked.replace(ending, b"\x01")
    bad, line, start = [], 0, 0
    for position in _positions(marked, b"\n"):
        line += marked.count(b"\x01", start, position)
        bad.append(line)
        line += 1
        start = position + 1
    return bad


class Aside:
    """Lines the text format cannot hold (an empty string value), as csv; spooled past a few MiB."""

    def __init__(self) -> None:
        self.count = 0
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115

    def add(self, line: bytes) -> None:
        self._spool.write(line)
        self.count += 1

    def chunks(self) -> Iterator[bytes]:
        self._spool.seek(0)
        while chunk := self._spool.read(READ_BYTES):
            yield chunk

    def close(self) -> None:
        self._spool.close()


class FileReader:
    """Turns a file's byte stream into landing lines (content + metadata), block by block.

    `header()` reads and checks the first line before anything is sent anywhere; iterating then
    yields the converted blocks, in the sink's line format `fmt`, and fills `loaded`, `rejects`
    and `aside`.
    """

    def __init__(
        self,
        name: str,
        uri: str,
        chunks: Iterable[bytes],
        batch_date: date,
        fmt: LineFormat = CSV_LINES,
    ) -> None:
        self.name, self.uri, self.batch_date, self.fmt = name, uri, batch_date, fmt
        self._chunks = iter(chunks)
        self._rest = b""
        self._line = 1
        self.loaded = 0
        self.rejects = Rejects()
        self.aside = Aside()
        self._translate = None if fmt.delimiter == b"," else bytes.maketrans(b",", fmt.delimiter)
        # what follows each line's content, `%d` for its number; set by header()
        self._suffix = self._csv_suffix = b""
        self._commas = 0
        self._commas_line = b""
        self.layout: Layout | None = None

    def header(self) -> Layout:
        while b"\n" not in self._rest and len(self._rest) < MAX_HEADER_BYTES:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._rest += chunk
        line, found, self._rest = self._rest.partition(b"\n")
        line = line[:MAX_HEADER_BYTES]  # no newline that early: not a header, shown cut short
        self.layout = match_header(self.name, self.uri, line if found or line else None)
        self._commas = len(self.layout.columns) - 1
        self._commas_line = b"," * self._commas + b"\n"
        self._suffix = self._line_end(self.layout, self.fmt.text, self.fmt.delimiter)
        self._csv_suffix = self._line_end(self.layout, False, b",")
        return self.layout

    def _line_end(self, layout: Layout, text: bool, delimiter: bytes) -> bytes:
        """Padding for missing columns (NULL), the metadata and '\\n'; `%d` is the line number."""
        if text:
            source = text_line([self.uri], delimiter)
        else:  # unquoted when it can be: a plain line stays free of quotes for every engine
            plain = not re.search(r'[",\\\r\n]', self.uri)
            source = (self.uri if plain else quote(self.uri)).encode()
        meta = [b"%d"]
        if self.fmt.constants_in_lines:
            meta = [source.replace(b"%", b"%%"), b"%d", self.batch_date.isoformat().encode()]
        return delimiter * (layout.missing + 1) + delimiter.join(meta) + b"\n"

    def __iter__(self) -> Iterator[bytes]:
        layout = self.layout or self.header()
        for chunk in self._blocks():
            block = self._rest + chunk
            cut = block.rfind(b"\n") + 1
            self._rest = block[cut:]
            converted = self._convert(layout, block[:cut]) if cut else b""
            if converted:
                yield converted

    def _blocks(self) -> Iterator[bytes]:
        yield b""  # the lines header() read past the header come first
        yield from self._chunks
        if self._rest:  # (lazy) the file's last line has no '\n'
            yield b"\n"

    def _convert(self, layout: Layout, block: bytes) -> bytes:
        """Complete lines in, landing lines out; bad lines go to the rejects.

        The checks run on the whole block at C speed (count commas per line from the block
        with everything else deleted, count the allowed line endings, look for special bytes);
        only the lines they flag get Python code (read_line). Every other line stays as it is
        (text format with a tab: its commas become tabs), and the metadata is appended by one
        C-level `%` over the whole block: the loader must keep up with the engine's own parser.
        """
        count = block.count(b"\n")
        first = self._line + 1
        self._line += count
        flagged = self._flag(layout, block, count)
        out = block if self._translate is None else block.translate(self._translate)
        numbers: Sequence[int] = range(first, first + count)
        if flagged:
            out, numbers = self._careful(layout, block, out, flagged, first)
        self.loaded += len(numbers)
        if b"%" in out:
            out = out.replace(b"%", b"%%")
        return out.replace(b"\n", self._suffix) % tuple(numbers)

    def _flag(self, layout: Layout, block: bytes, count: int) -> set[int]:
        """The indices of the lines that need a closer look."""
        if not _utf8(block):
            return set(range(count))
        flagged: set[int] = set()
        commas = block.translate(None, _NOT_COMMA_OR_NEWLINE)
        if commas != self._commas_line * count:
            lengths = enumerate(map(len, commas.split(b"\n")[:count]))
            flagged.update(index for index, found in lengths if found != self._commas)
        if layout.status_index == len(layout.columns) - 1:
            flagged.update(_bad_endings(block, count))
        for special in _SPECIAL_BYTES:
            flagged.update(_lines_of(block, _positions(block, special)))
        return flagged

    def _careful(
        self, layout: Layout, block: bytes, out: bytes, flagged: set[int], first: int
    ) -> tuple[bytes, list[int]]:
        """The flagged lines one by one: rejected, kept, re-written or put aside.

        Returns the lines kept (each ending in '\\n') and their numbers.
        """
        raws = block.split(b"\n")
        lines: list[bytes | None] = list(raws if out is block else out.split(b"\n"))
        lines.pop()
        for index in sorted(flagged):
            raw = raws[index].removesuffix(b"\r")
            try:
                fields = read_line(layout, raw)
            except LineError as error:
                self.rejects.add(str(error), raw, f"{self.uri}#{first + index}")
                lines[index] = None
                continue
            if fields is None:
                lines[index] = raw if self._translate is None else raw.translate(self._translate)
            elif not self.fmt.text:
                lines[index] = format_line(fields).encode()
            elif "" in fields:
                self.aside.add(format_line(fields).encode() + self._csv_suffix % (first + index))
                self.loaded += 1
                lines[index] = None
            else:
                lines[index] = text_line(fields, self.fmt.delimiter)
        numbers = range(first, first + len(lines))
        kept = list(map(is_not, lines, repeat(None)))
        lines = list(compress(lines, kept))
        if not lines:
            return b"", []
        return b"\n".join(lines) + b"\n", list(compress(numbers, kept))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FileLoad:
    """What happened to one file: a load-log row."""

    key: str
    table: Table | None
    size: int
    etag: str
    status: str  # loaded | refused | skipped
    loaded: int = 0
    rejected: int = 0
    note: str | None = None
    refusal: HeaderError | None = None

    @property
    def error(self) -> str | None:
        return str(self.refusal) if self.refusal is not None else self.note

    def log_row(self) -> Row:
        table = self.table.qualified if self.table else None
        counts = (self.size, self.loaded, self.rejected)
        return (self.key, table, self.etag, self.status, self.error, *counts)


def prefetch(blocks: Iterable[bytes], depth: int = 4) -> Iterator[bytes]:
    """`blocks`, produced by a helper thread up to `depth` blocks ahead.

    Reading S3 and checking lines then overlap with sending to the engine (the sending thread
    waits on the socket without the GIL), instead of taking turns. Memory stays bounded by
    `depth` blocks. An error in the producer is raised here; closing this generator early stops
    the producer.
    """
    queue: Queue[tuple[str, object]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        queue.put(("block", block), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("end", None))
        except BaseException as error:  # handed to the consumer
            queue.put(("error", error))

    worker = threading.Thread(target=produce, name="s3-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with suppress(Empty):
                queue.get(timeout=0.1)
        worker.join()


def load_stream(
    name: str, uri: str, chunks: Iterable[bytes], batch_date: date, sink: Sink
) -> tuple[int, int]:
    """Land one file's bytes as the day's batch of its table; (rows loaded, rows rejected).

    Raises HeaderError before touching the sink if the header is not a known layout.
    """
    table = S3_FILES[name]
    reader = FileReader(name, uri, chunks, batch_date, sink.line_format)
    try:
        reader.header()
        written = sink.replace_batch_lines(
            table, batch_date, prefetch(reader), reader.aside.chunks, {SOURCE_COLUMN: uri}
        )
        if written != reader.loaded:
            raise RuntimeError(
                f"{uri}: the engine took {written} rows but {reader.loaded} were sent; the "
                "dialects disagree: this is a bug in ingest/loaders/s3.py"
            )
        sink.replace_batch(table.rejects, batch_date, reader.rejects.rows())
        return reader.loaded, reader.rejects.count
    finally:
        reader.rejects.close()
        reader.aside.close()


def list_day(client: Any, bucket: str, prefix: str) -> list[dict]:
    """The objects directly in the day's folder, by key."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    ):
        found.extend(page.get("Contents", []))
    return sorted(found, key=lambda obj: obj["Key"])


def load_file(client: Any, bucket: str, key: str, day: date, sink: Sink) -> FileLoad:
    """Load one object of the day's folder; a refused or unknown file is reported, not raised."""
    name = key.rsplit("/", 1)[-1]
    uri = f"s3://{bucket}/{key}"
    if name not in S3_FILES:
        head = client.head_object(Bucket=bucket, Key=key)
        known = ", ".join(S3_FILES)
        log.warning("%s: not a known sales file (%s); skipped", uri, known)
        return FileLoad(
            key, None, head["ContentLength"], head["ETag"].strip('"'), "skipped",
            note=f"unknown file name; known: {known}",
        )  # fmt: skip
    obj = client.get_object(Bucket=bucket, Key=key)
    size, etag = obj["ContentLength"], obj["ETag"].strip('"')
    body = obj["Body"]
    try:
        loaded, rejected = load_stream(name, uri, body.iter_chunks(READ_BYTES), day, sink)
    except HeaderError as error:  # raised by load_day once the other files are in
        return FileLoad(key, S3_FILES[name], size, etag, "refused", refusal=error)
    finally:
        body.close()
    log.info("%s: %d rows loaded, %d rejected", uri, loaded, rejected)
    return FileLoad(key, S3_FILES[name], size, etag, "loaded", loaded, rejected)


def unchanged(objects: list[dict], logged: list[tuple]) -> bool:
    """Whether a folder's objects are the files of its last load: the same keys, sizes and ETags."""
    listed = {(obj["Key"], obj["Size"], obj["ETag"].strip('"')) for obj in objects}
    return listed == {(key, int(size), etag) for key, size, etag in logged}


def load_day(day: date, target: str, settings: Settings, lookback: int = 0) -> list[LoadResult]:
    """Load every known file of the day's folder into `target`; one result per loaded file.

    Also the `lookback` folders before it, those whose files changed since their last load (by
    key, size and ETag) or were never loaded: a file delivered after its day's run started lands
    with one of the next runs, which rebuild its day too (dbt's `lookback_days`). An earlier
    folder as it was last loaded is not read again, so a file refused there fails only the run
    that first met it; the day's own folder is always loaded.
    A refused file does not stop the others: they are loaded, every outcome is written to the
    load log, and then the first refusal is raised (the others are attached as notes).
    """
    from ingest import s3

    client = s3.client(settings)
    bucket = settings["DWH_S3_BUCKET"]
    earlier = [day - timedelta(days=back) for back in range(lookback, 0, -1)]
    folders = {
        each: list_day(client, bucket, s3.day_prefix(each, settings)) for each in [*earlier, day]
    }
    if not folders[day]:
        log.warning(
            "s3://%s/%s has no files: nothing to load for %s",
            bucket,
            s3.day_prefix(day, settings),
            day,
        )
    sink = connect(target, settings)
    loads: list[FileLoad] = []
    try:
        for each, objects in folders.items():
            if each != day:
                logged = sink.batch_rows(LOAD_LOG, each, ("file", "size", "etag"))
                if not objects or unchanged(objects, logged):
                    continue
                log.info("%s: the folder changed since its last load: loading it again", each)
            if objects:
                day_loads = [load_file(client, bucket, obj["Key"], each, sink) for obj in objects]
                sink.replace_batch(LOAD_LOG, each, [load.log_row() for load in day_loads])
                loads.extend(day_loads)
    finally:
        sink.close()
    results = [
        LoadResult(load.table.qualified, load.loaded, load.rejected)
        for load in loads
        if load.status == "loaded" and load.table is not None
    ]
    refused = [load.refusal for load in loads if load.refusal is not None]
    if refused:
        for other in refused[1:]:
            refused[0].add_note(str(other))
        if results:
            refused[0].add_note("loaded anyway: " + "; ".join(map(str, results)))
        raise refused[0]
    return results
