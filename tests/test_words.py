"""What a clinician or an advocate reads, on the bundled sample, on SQLite and PostgreSQL:
qualifiers and Spanish names keep a condition findable; miles are miles; units without a
unit or with an unknown one are said; no place, no "nearest open site"; an empty store
says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.sample_store import SEED_PAGE_ID, load_sample


@pytest.fixture
def sample_url(store_url: str) -> Iterator[str]:
    load_sample(store_url)
    yield store_url


def run(url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", url, *args])


def ids(url: str, *args: str) -> list[str]:
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return [m["nct_id"] for m in json.loads(result.stdout)["matches"]]


def test_qualifiers_and_spanish_names_keep_a_condition_findable(sample_url: str) -> None:
    near = ("--near", "Palencia, Spain", "--radius", "150")
    plain = ids(sample_url, "search", "lupus nephritis", *near)
    assert plain[0] == SEED_PAGE_ID
    for written in (
        "lupus nephritis class IV",
        "biopsy-proven lupus nephritis",
        "active lupus nephritis",
        "refractory lupus nephritis class III or IV",
        "nefritis lúpica",
        "nefritis lúpica clase IV",
    ):
        assert ids(sample_url, "search", written, *near)[:1] == [SEED_PAGE_ID], written
    patient = ["match", "--age", "34", "--sex", "female", "--location", "Palencia, Spain"]
    assert ids(sample_url, *patient, "--condition", "nefritis lúpica clase IV")[:1] == [SEED_PAGE_ID]
