"""The HTTP service (FastAPI): JSON API, FHIR, web pages. The top layer: may import ``db``,
``ingest`` and ``matching``; nothing imports it but the commands."""
