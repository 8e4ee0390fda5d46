"""The bundled sample (what `make run` loads) in a store of the test's choosing.

Shared by the service's tests: the API through the ASGI app, the server as a process,
and the pages in a browser all answer from the same 241 trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from db.engine import open_store
from ingest.files.reader import iter_paths
from ingest.pages.load import ingest_pages
from ingest.pipeline import ingest_items
from ingest.places.gazetteer.lookup import Gazetteer
from ingest.places.sites import site_geocoder

SAMPLE = Path(__file__).resolve().parent.parent / "sample"
SEED_PAGE_ID = "PAGE-c5c28308bd"  # the seed trial's page (NCT03673748, which it never names)


def load_sample(url: str) -> None:
    """Load the bundled sample as `make run` does (zip, then the seed page), geocoding sites."""
    engine = open_store(url)
    try:
        with Gazetteer.open() as gazetteer:
            geocode = site_geocoder(gazetteer)
            ingest_items(
                engine, iter_paths([SAMPLE / "ctg-studies.json.zip"]), command="test", geocode=geocode
            )
            ingest_pages(engine, [str(SAMPLE / "lupus-nephritis-trial-page.txt")], geocode=geocode)
    finally:
        engine.dispose()


def seed_patient() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLE / "patient.json").read_text())
    return data
