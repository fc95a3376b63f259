"""Warehouse ingest: generators of the outside world, loaders, the local stack, the CLI."""
