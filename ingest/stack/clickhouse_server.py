"""Process entry point of the local ClickHouse: chDB's embedded server, listening until stopped.

chdb-core ships no `clickhouse` binary. `chdb._chdb.query(sql, path=DATA)` runs ClickHouse's
local-server main, which reads `config.xml` from the working directory, and `SYSTEM START LISTEN`
opens the ports configured there for as long as that one call lasts. So the call is made to
last: its final SELECT sleeps a second per row and ends only once the stop file exists, which
our SIGTERM/SIGINT handler writes. Ending the query (rather than dying on the signal) lets
ClickHouse shut down cleanly: merges stopped, parts and metadata closed, the data lock released.

Standard library and chdb only: this runs with the service folder as working directory and, when
started by root, as an unprivileged user that cannot read root's Python installation.
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import sys
import threading
from pathlib import Path

# `file()` reads the stop file; a per-row path (number cut to '') keeps it from being folded into
# a constant, so it is read again every second. chDB's default user needs no FILE grant for it.
SERVE = (
    "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
    "SELECT number FROM system.numbers "
    "WHERE sleep(1) = 0 AND file(concat({path}, left(toString(number), 0)), '') != '' "
    "LIMIT 1 SETTINGS max_block_size = 1"
)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _drop_privileges(user: str) -> None:
    """Run ClickHouse as `user`: its file() function reads any path the process can read."""
    account = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ["HOME"] = os.getcwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True, help="holds config.xml")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--user", help="unprivileged account to switch to (when root)")
    args = parser.parse_args(argv)
    stop_file = args.config_dir.resolve() / "stop"
    stop_file.unlink(missing_ok=True)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()
        stop_file.write_text("stop\n")  # file() of an empty file is '', as if it were missing

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # Importing chdb starts (and closes) an in-memory engine that reads config.xml from the
    # working directory too: import it before moving into the folder with ours.
    from chdb import _chdb

    os.umask(0o077)
    os.chdir(args.config_dir)
    if args.user:
        _drop_privileges(args.user)
    outcome: dict[str, object] = {}

    def serve() -> None:
        try:
            sql = SERVE.format(path=_sql_string(str(stop_file)))
            # TabSeparated becomes the HTTP default format: clickhouse-connect expects it.
            result = _chdb.query(sql, "TabSeparated", path=str(args.data_dir.resolve()))
            outcome["error"] = result.error_message() if result.has_error() else None
        except Exception as error:  # reported below, as the process's exit status
            outcome["error"] = str(error)

    thread = threading.Thread(target=serve, name="clickhouse", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)  # a timed wait lets Python run the signal handler
    stop_file.unlink(missing_ok=True)
    if outcome.get("error"):
        print(f"clickhouse: {outcome['error']}", file=sys.stderr)
        return 1
    if not stopping.is_set():
        print("clickhouse: the server stopped without being asked to", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
