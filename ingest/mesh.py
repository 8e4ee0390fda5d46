"""MeSH ancestors for records whose source lists none (legacy XML, trial pages).

API v2 records carry ``derivedSection.conditionBrowseModule.ancestors``; older
and page sources do not, so condition search could not reach them through a
broader term ("kidney disease" → lupus nephritis). For a condition or MeSH term
found in ``data/mesh_ancestors.json`` (from the MeSH tree), its ancestors are
added as ``mesh_ancestor`` conditions. Records that have ancestors are left as
the registry gave them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from ingest.record import Condition, NormalizedTrial


@cache
def _ancestors() -> dict[str, tuple[str, ...]]:
    data = json.loads(resources.files("ingest").joinpath("data/mesh_ancestors.json").read_text())
    return {term.casefold(): tuple(parents) for term, parents in data["ancestors"].items()}


def ancestors_of(term: str) -> tuple[str, ...]:
    """MeSH ancestors of a condition name ("lupus nephritis" → …, "Lupus Erythematosus, Systemic", …)."""
    return _ancestors().get(" ".join(term.split()).casefold(), ())


def add_mesh_ancestors(trial: NormalizedTrial) -> None:
    """Add the MeSH ancestors of the trial's conditions when its source gave none."""
    if any(c.kind == "mesh_ancestor" for c in trial.conditions):
        return
    known = _ancestors()
    present = {c.term.casefold() for c in trial.conditions}
    added: dict[str, None] = {}
    for condition in list(trial.conditions):
        for parent in known.get(condition.term.strip().casefold(), ()):
            if parent.casefold() not in present:
                added.setdefault(parent)
    trial.conditions.extend(Condition(term, "mesh_ancestor") for term in added)
