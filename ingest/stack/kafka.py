"""A Kafka-protocol broker for the local stack: the `noida-db` binary with only its Kafka server.

noida-db is not Apache Kafka, but it speaks the Kafka wire protocol well enough for kafka-python
(topics, partitions, consumer groups, committed offsets, compression, transactions). We run the
binary shipped inside the wheel rather than its Python wrapper: the wrapper is a parent process
that, when killed, leaves the broker running.
"""

from __future__ import annotations

import socket
import stat
from importlib.resources import files
from pathlib import Path

from kafka import KafkaAdminClient

from ingest.stack.process import Service

HOST = "127.0.0.1"


def binary() -> Path:
    """The broker binary inside the noida_db package, made executable (wheels may drop the mode)."""
    try:
        package = files("noida_db")
    except ModuleNotFoundError as error:  # reported by Service.start as "program not found"
        raise FileNotFoundError(2, "noida-db is not installed", "noida_db/noida-db") from error
    path = Path(str(package.joinpath("noida-db")))
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Kafka(Service):
    """noida-db serving the Kafka protocol on 127.0.0.1:`settings.kafka_port`.

    It also opens a control port (an HTTP API for `noida-db status/down`, token-protected, on
    127.0.0.1) whose number the kernel picks at each start and which cannot be pinned; it is
    recorded in `data/noida.control.json` and is deliberately not in `ports()`.
    Topics, messages and committed offsets live in memory and in `data/kafka.json`, rewritten
    about once a second after changes and on SIGTERM (a clean, instant exit): SIGKILL loses the
    last second of acknowledged writes.
    Every start logs ld.so's "weak version `GLIBC_2.39' not found": harmless, the two symbols
    concerned (pidfd_spawnp, pidfd_getpid) are optional and the binary runs without them.
    """

    name = "kafka"
    start_timeout = 30.0

    def ports(self) -> list[int]:
        return [self.settings.kafka_port]

    def command(self) -> list[str]:
        return [
            str(binary()),
            "start",
            "--only",
            "kafka",
            "--host",
            HOST,
            "--kafka-port",
            str(self.settings.kafka_port),
            "--data-dir",
            str(self.data_dir),
        ]

    def bootstrap(self) -> str:
        return f"{HOST}:{self.settings.kafka_port}"

    def describe(self) -> str:
        return f"kafka://{self.bootstrap()}"

    def healthy(self) -> bool:
        # A plain connect first: against a closed port KafkaAdminClient retries until its
        # bootstrap timeout and leaks its IO thread when it gives up.
        try:
            socket.create_connection((HOST, self.settings.kafka_port), timeout=1).close()
        except OSError:
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap(),
                request_timeout_ms=2000,
                bootstrap_timeout_ms=2000,
            )
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()
