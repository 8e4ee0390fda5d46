"""Benchmarks that print figures; run as modules from the repository root: python -m bench.ingest."""
