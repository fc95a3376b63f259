"""Warehouse ingest: generators of the outside world, loaders into landing schemas, the `dwh` CLI."""
