"""The local stack: Postgres, ClickHouse, a Kafka-protocol broker and an S3 endpoint, no Docker."""

from __future__ import annotations

import importlib

from ingest.settings import Settings
from ingest.stack.process import Service, StackError

# name -> module defining it; imported on use so each server's client library loads only when needed
SERVICES: dict[str, str] = {
    "postgres": "ingest.stack.postgres:Postgres",
    "clickhouse": "ingest.stack.clickhouse:ClickHouse",
    "kafka": "ingest.stack.kafka:Kafka",
    "s3": "ingest.stack.s3:S3",
}

__all__ = ["SERVICES", "StackError", "services", "up", "down", "status", "report"]


def services(settings: Settings, only: list[str] | None = None) -> list[Service]:
    names = only or list(SERVICES)
    unknown = [name for name in names if name not in SERVICES]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    found = []
    for name in names:
        module, cls = SERVICES[name].split(":")
        found.append(getattr(importlib.import_module(module), cls)(settings))
    return found


def up(settings: Settings, only: list[str] | None = None) -> list[tuple[Service, bool]]:
    """Start the services that are not running; return each with whether it was started."""
    return [(service, service.start()) for service in services(settings, only)]


def report(results: list[tuple[Service, bool]], done: str, not_done: str) -> str:
    """One line per service: its name, what happened, where it listens."""
    return "\n".join(
        f"{service.name:<11} {done if changed else not_done:<16} {service.describe()}"
        for service, changed in results
    )


def down(settings: Settings, only: list[str] | None = None) -> list[tuple[Service, bool]]:
    """Stop the running services (in reverse order); return each with whether it was running."""
    return [(service, service.stop()) for service in reversed(services(settings, only))]


def status(settings: Settings) -> list[tuple[Service, int | None]]:
    return [(service, service.pid()) for service in services(settings)]
