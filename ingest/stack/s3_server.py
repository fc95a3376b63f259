"""moto's S3 server, with its buckets and objects kept on disk so they survive a restart.

moto (5.2.5) holds everything in memory and has no persistence option. This entry point runs
moto's own WSGI app and, after each request that can change S3 (PUT, POST, DELETE) and before
the client gets the answer, makes the disk match moto for what the request touched:
`DATA/<bucket>/bucket.json` per bucket and `DATA/<bucket>/<sha256 of key>.obj` per object
(one JSON line with the key name and metadata, then the bytes), written to a temporary file
and renamed so that no file is ever half-written, even on SIGKILL. A graceful stop
(SIGTERM/SIGINT) reconciles everything once more. At start the files are loaded into moto
before the port opens.

Kept: buckets, the current version of each object, its content type and user metadata, ETag
and last-modified time. Not kept: tags, ACLs, bucket configuration, older versions and
unfinished multipart uploads. Requests are mapped to objects by path-style URLs (the only
style a 127.0.0.1 endpoint gets); anything else is still saved at the graceful stop.

Usage: python -m ingest.stack.s3_server --port 19020 --data-dir .dwh/s3/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import FakeBucket, FakeKey, s3_backends
from werkzeug.serving import run_simple

BUCKET_FILE = "bucket.json"
# A bucket name is used as a folder name: never persist one that could escape the data folder.
SAFE_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}")


def _stamp(key: FakeKey) -> str:
    return f"{key.etag} {key.last_modified.isoformat()}"


def _write_atomic(path: Path, *chunks: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    os.replace(tmp, path)


def _find_bucket(name: str) -> FakeBucket | None:
    where = s3_backends.bucket_accounts.get(name)
    if where is None:
        return None
    partition, account = where
    return s3_backends[account][partition].buckets.get(name)


class DiskStore:
    """Mirrors moto's buckets and objects in a folder and loads them back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        # bucket -> key -> stamp of the version on disk, so unchanged objects are not rewritten.
        self.saved: dict[str, dict[str, str]] = {}

    def load(self) -> int:
        """Recreate the saved buckets and objects in moto; return the number of objects."""
        count = 0
        for bucket_file in sorted(self.root.glob(f"*/{BUCKET_FILE}")):
            folder, info = bucket_file.parent, json.loads(bucket_file.read_text())
            backend = s3_backends[info["account"]][info["partition"]]
            backend.create_bucket(folder.name, info["region"])
            saved = self.saved[folder.name] = {}
            for leftover in folder.glob("*.tmp"):  # a write interrupted by SIGKILL
                leftover.unlink()
            for path in folder.glob("*.obj"):
                with path.open("rb") as file:
                    head = json.loads(file.readline())
                    value = file.read()
                key = backend.put_object(
                    folder.name,
                    head["name"],
                    value,
                    etag=head["etag"].strip('"'),
                    disable_notification=True,
                )
                key.set_metadata(head["metadata"])
                key.last_modified = datetime.fromisoformat(head["last_modified"])
                saved[key.name] = _stamp(key)
                count += 1
        return count

    def sync(self, bucket_name: str, key_name: str | None = None) -> None:
        """Make the disk match moto for one object, or for a whole bucket if key_name is None."""
        if not SAFE_BUCKET.fullmatch(bucket_name):
            return
        with self.lock:
            bucket, folder = _find_bucket(bucket_name), self.root / bucket_name
            if bucket is None:
                if self.saved.pop(bucket_name, None) is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                return
            saved = self.saved.get(bucket_name)
            if saved is None:
                folder.mkdir(parents=True, exist_ok=True)
                info = {"account": bucket.account_id, "partition": bucket.partition}
                info["region"] = bucket.region_name
                _write_atomic(folder / BUCKET_FILE, json.dumps(info).encode())
                saved = self.saved[bucket_name] = {}
            names = [key_name] if key_name is not None else set(saved) | set(list(bucket.keys))
            for name in names:
                self._sync_key(bucket, folder, saved, name)

    def sync_all(self) -> None:
        for name in set(self.saved) | set(s3_backends.bucket_accounts):
            self.sync(name)

    @staticmethod
    def _sync_key(bucket: FakeBucket, folder: Path, saved: dict[str, str], name: str) -> None:
        path = folder / f"{hashlib.sha256(name.encode()).hexdigest()}.obj"
        key = bucket.keys.get(name)  # the latest version; a delete marker counts as deleted
        if not isinstance(key, FakeKey):
            if saved.pop(name, None) is not None:
                path.unlink(missing_ok=True)
            return
        stamp = _stamp(key)
        if saved.get(name) == stamp:
            return
        try:
            value = key.value
        except ValueError:  # replaced (and its buffer closed) meanwhile: the newer one is synced
            return
        head = {
            "name": name,
            "etag": key.etag,
            "last_modified": key.last_modified.isoformat(),
            "metadata": dict(key.metadata),
        }
        _write_atomic(path, json.dumps(head).encode() + b"\n", value)
        saved[name] = stamp


class Persisted:
    """WSGI middleware: after a request that can change S3, sync what its path names."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: DiskStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # moto builds the whole response here; the client gets it only once we return.
        response = self.app(environ, start_response)
        if environ["REQUEST_METHOD"] in ("PUT", "POST", "DELETE"):
            # The request line's still-quoted target, unquoted the way moto does it.
            raw = environ.get("RAW_URI") or "/"
            path = urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0]
            bucket, _, key = unquote(path).lstrip("/").partition("/")
            if bucket:
                self.store.sync(bucket, key or None)
        return response


def _exit(signum: int, frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's S3 server with objects kept on disk")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs from it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one log line per request
    args.data_dir.mkdir(parents=True, exist_ok=True)
    store = DiskStore(args.data_dir)
    loaded = store.load()
    signal.signal(signal.SIGTERM, _exit)
    logging.info("S3 on %s:%d, %d objects from %s", args.host, args.port, loaded, args.data_dir)
    try:
        run_simple(
            args.host,
            args.port,
            Persisted(DomainDispatcherApplication(create_backend_app), store),
            threaded=True,
            use_reloader=False,
            request_handler=MotoRequestHandler,
        )
    finally:
        store.sync_all()
        logging.info("stopped; data saved in %s", args.data_dir)


if __name__ == "__main__":
    main()
