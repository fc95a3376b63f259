"""An S3 endpoint for the local stack: moto's server, with objects kept on disk.

moto only keeps state in memory, so the server runs through our `s3_server` entry point, which
writes every changed object under `data/` before answering (see that module). docker-compose
uses MinIO instead; both are reached with `ingest.s3.client`.
"""

from __future__ import annotations

import sys

from ingest import s3
from ingest.settings import REPO_ROOT
from ingest.stack.process import Service

HOST = "127.0.0.1"


class S3(Service):
    """moto's S3 API on 127.0.0.1:`settings.s3_port`, with the bucket `DWH_S3_BUCKET`.

    SIGTERM ends it (werkzeug's reloader is off, so there is no child process) after a last
    sync of the data folder; objects are on disk already, so even SIGKILL loses nothing.
    """

    name = "s3"
    start_timeout = 30.0

    def ports(self) -> list[int]:
        return [self.settings.s3_port]

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ingest.stack.s3_server",
            "--host",
            HOST,
            "--port",
            str(self.settings.s3_port),
            "--data-dir",
            str(self.data_dir),
        ]

    def popen_kwargs(self) -> dict:
        # `-m` must find this checkout's `ingest` even if the package is not installed.
        return {"cwd": REPO_ROOT}

    def endpoint(self) -> str:
        return f"http://{HOST}:{self.settings.s3_port}"

    def describe(self) -> str:
        return f"{self.endpoint()} bucket {self.settings['DWH_S3_BUCKET']}"

    def healthy(self) -> bool:
        try:
            quick = {"connect_timeout": 1, "read_timeout": 2, "retries": {"total_max_attempts": 1}}
            s3.client(self.settings, **quick).list_buckets()
        except Exception:
            return False
        return True

    def after_start(self) -> None:
        s3.ensure_bucket(self.settings)
