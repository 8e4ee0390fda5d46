"""MeSH terms and ancestors for records whose source lists none (legacy XML, trial pages).

API v2 records carry ``derivedSection.conditionBrowseModule`` (MeSH terms and ancestors);
older and page sources list only the sponsor's words ("Lupus Nephritis", "nefritis lúpica",
"CKD stage 3"), so condition search could not reach them through a broader term ("kidney
disease" → lupus nephritis). Each listed condition is read through the clinical vocabulary
(``ingest.vocabulary``); the concept is added as a ``mesh`` condition (with its id) unless the
source gave MeSH terms, and its ancestors as ``mesh_ancestor`` conditions unless the source
gave ancestors. Records that have both are left as the registry gave them.
"""

from __future__ import annotations

from ingest.record import Condition, NormalizedTrial
from ingest.vocabulary.concepts import CONDITION_KINDS, Concept, load_vocabulary
from ingest.vocabulary.recognizer import find_concepts


def concept_of(term: str) -> Concept | None:
    """The condition concept a listed condition names: the whole term if it is one, else the
    longest condition concept in it ("Biopsy-proven Lupus Nephritis Class IV" → Lupus Nephritis)."""
    vocabulary = load_vocabulary()
    concept = vocabulary.lookup(term)
    if concept is not None and concept.kind in CONDITION_KINDS:
        return concept
    mentions = find_concepts(term, kinds=CONDITION_KINDS)
    if not mentions:
        return None
    return max(mentions, key=lambda m: m.end - m.start).concept


def ancestors_of(term: str) -> tuple[str, ...]:
    """MeSH names of the broader concepts of a condition ("lupus nephritis" → "Glomerulonephritis",
    "Kidney Diseases", "Lupus Erythematosus, Systemic", …), nearest first."""
    concept = concept_of(term)
    if concept is None:
        return ()
    vocabulary = load_vocabulary()
    ancestors = [vocabulary.by_id[uid] for uid in vocabulary.ancestors(concept.id)]
    ancestors.sort(key=lambda c: (-max((t.count(".") for t in c.trees), default=0), c.name))
    return tuple(c.name for c in ancestors)


def add_mesh_ancestors(trial: NormalizedTrial) -> None:
    """Add MeSH terms and ancestors of the trial's listed conditions when its source gave none."""
    has_terms = any(c.kind == "mesh" for c in trial.conditions)
    has_ancestors = any(c.kind == "mesh_ancestor" for c in trial.conditions)
    if has_terms and has_ancestors:
        return
    vocabulary = load_vocabulary()
    present = {c.term.casefold() for c in trial.conditions}
    added: list[Condition] = []
    sources = [c for c in trial.conditions if c.kind in ("listed", "mesh")]
    for condition in sources:
        concept = concept_of(condition.term)
        if concept is None or not concept.id.startswith("D"):
            continue
        if not has_terms and concept.name.casefold() not in present:
            added.append(Condition(concept.name, "mesh", concept.id))
            present.add(concept.name.casefold())
        if has_ancestors:
            continue
        for uid in sorted(vocabulary.ancestors(concept.id)):
            ancestor = vocabulary.by_id[uid]
            if ancestor.kind in CONDITION_KINDS and ancestor.name.casefold() not in present:
                added.append(Condition(ancestor.name, "mesh_ancestor", ancestor.id))
                present.add(ancestor.name.casefold())
    trial.conditions.extend(added)
