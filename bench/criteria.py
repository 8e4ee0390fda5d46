"""Benchmark the eligibility-criteria parser over every fixture trial.

Prints: trials, items, share of items with at least one rule, rules by kind,
thresholds recognised (and how many have a catalogue variable and a canonical
unit), and parse speed in trials/s — best of ``--repeat`` passes, as wall-clock
and as CPU time, because a shared machine's load makes single wall timings noisy.

Conditions and treatments: how many rules name vocabulary concepts, and of the
phrases a cue introduces ("history of …", "treated with …", "patients with …") the
share read as a concept rule, with examples of those left as text for a human.

Evaluation: every item (as the store keeps it, JSON) against three patients (the seed
patient, one with treatments, one with denials), in µs per item, best of ``--repeat``.

    .venv/bin/python bench/criteria.py [--repeat 3] [--root tests/fixtures]

Then the worst shapes seen (:func:`worst_shapes`: repetition, long lines, many
numbers, deep parentheses): time and items for each, one parse.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.criteria import CriterionItem, parse_criteria
from ingest.vocabulary.recognizer import find_concepts

_KEYS = ("eligibilityCriteria", "EligibilityCriteria")


def _walk(node: object, source: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        nct = (
            node.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
            if isinstance(node.get("protocolSection"), dict)
            else None
        )
        for key, value in node.items():
            if key in _KEYS and isinstance(value, str):
                yield nct or source, value
            else:
                yield from _walk(value, nct or source)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child, source)


def iter_fixture_criteria(root: Path, *, pages: bool = True) -> Iterator[tuple[str, str]]:
    """(trial id or file, criteria text) for every criteria text under ``root`` (JSON, XML,
    and with ``pages`` the seed page's criteria)."""
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        yield from _walk(data, path.name)
    for path in sorted(root.rglob("*.xml")):
        try:
            tree = ElementTree.parse(str(path))
        except ElementTree.ParseError:
            continue
        nct = tree.findtext(".//id_info/nct_id") or path.name
        for block in tree.iterfind(".//eligibility/criteria/textblock"):
            yield nct, block.text or ""
    for path in sorted(root.rglob("seeds/*.txt")) if pages else ():
        page = path.read_text(encoding="utf-8")
        if "View:" in page:
            yield path.name, page.split("View:", 1)[1].split("\nLocations", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="also time a process pool of this size")
    args = parser.parse_args()
    trials = [text for _, text in iter_fixture_criteria(args.root) if text.strip()]
    parse_criteria("Age ≥ 18 years (warm-up: loads the catalogue)")
    best_wall = best_cpu = float("inf")
    items = []
    for _ in range(max(1, args.repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        items = [item for text in trials for item in parse_criteria(text)]
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    kinds = Counter(rule.kind for item in items for rule in item.rules)
    thresholds = [rule for item in items for rule in item.rules if rule.kind == "threshold"]
    with_rule = sum(1 for item in items if item.rules)
    print(f"trials                     {len(trials)}")
    print(f"items                      {len(items)}")
    print(f"items with >= 1 rule       {with_rule} ({with_rule / max(1, len(items)):.1%})")
    print(f"rules                      {sum(kinds.values())}")
    for kind, count in kinds.most_common():
        print(f"  {kind:24s} {count}")
    known = sum(1 for r in thresholds if r.variable)
    canonical = sum(1 for r in thresholds if r.canonical_unit)
    print(
        f"thresholds recognised      {len(thresholds)} (catalogue variable {known}, canonical unit {canonical})"
    )
    print(f"age rules                  {kinds.get('age', 0)}")
    print(f"parse time, best of {args.repeat}   {best_wall:.2f} s wall, {best_cpu:.2f} s CPU (one process)")
    print(
        f"speed (wall)               {len(trials) / best_wall:.0f} trials/s, {len(items) / best_wall:.0f} items/s"
    )
    print(f"speed (CPU)                {len(trials) / best_cpu:.0f} trials per CPU-second")
    concepts_report(items)
    evaluation_report(items, args.repeat)
    if args.workers > 1:
        with multiprocessing.Pool(args.workers) as pool:
            pool.map(_parse_json, trials[: args.workers * 4])
            started = time.perf_counter()
            pool.map(_parse_json, trials, chunksize=16)
            elapsed = time.perf_counter() - started
        print(
            f"speed ({args.workers} processes)        {len(trials) / elapsed:.0f} trials/s wall (items as JSON)"
        )


# Cues after which a clinician writes a condition or a treatment: the phrases a reader
# expects a rule for (the measure of how many are read as concepts).
_CUE_RE = re.compile(
    r"(?i)\b(?:history of|diagnosis of|diagnosed with|evidence of|presence of|known|active|uncontrolled|"
    r"(?:patients?|subjects?|participants?) with|treated with|treatment with|therapy with|receiving|"
    r"received|taking|use of|prior(?! to)|previous|current|concomitant|free of|without)\s+"
    r"(?P<phrase>[a-z][\w'/-]*(?:\s+(?!(?:who|which|that|within|for|at|in|on|of|as|by|or|and|with|to|is|are)\b)"
    r"[a-z][\w'/-]*){0,4})"
)


def concepts_report(items: list[CriterionItem]) -> None:
    """Condition and treatment rules naming concepts, and cue phrases read as concepts or left."""
    named = [r for item in items for r in item.rules if r.kind in ("condition", "treatment")]
    with_concepts = [r for r in named if getattr(r, "concepts", ())]
    print(
        f"condition/treatment rules   {len(named)}; naming vocabulary concepts "
        f"{len(with_concepts)} ({len(with_concepts) / max(1, len(named)):.1%}), "
        f"{sum(len(r.concepts) for r in with_concepts) / max(1, len(with_concepts)):.2f} concepts per rule"
    )
    phrases = read = 0
    left: list[str] = []
    for item in items:
        spans = [r.span for r in item.rules]
        ids = {c.id for r in item.rules for c in getattr(r, "concepts", ())}
        for m in _CUE_RE.finditer(item.text):
            start, end = m.span("phrase")
            phrases += 1
            # read: inside a rule's words, or naming a concept one of the item's rules holds
            # (a concept named twice is one rule: "active malignancy or prior malignancy")
            if any(s < end and start < e for s, e in spans) or (
                ids and {c.concept.id for c in find_concepts(m.group("phrase"))} & ids
            ):
                read += 1
            elif len(left) < 400:
                left.append(m.group().strip())
    print(f"phrases after a cue         {phrases}; read as a rule {read} ({read / max(1, phrases):.1%})")
    print("  left for review, e.g.: " + "; ".join(repr(p) for p in left[::27][:15]))


def evaluation_report(items: list[CriterionItem], repeat: int) -> None:
    """Evaluation speed: every stored item against three patients."""
    from matching.eligibility import evaluate_items
    from matching.patient import parse_patient
    from matching.verdicts import patient_facts

    stored = [json.loads(json.dumps(item.to_dict())) for item in items]
    patients = [
        {"age": 34, "sex": "female", "conditions": ["lupus nephritis"], "measurements": [{"name": "SLEDAI-2K", "value": 12}]},
        {"age": 61, "sex": "male", "conditions": ["type 2 diabetes", "chronic kidney disease stage 3"],
         "treatments": [{"name": "metformin"}, {"name": "tacrolimus"}], "measurements": [{"name": "eGFR", "value": 45}]},
        {"age": 45, "sex": "female", "conditions": ["breast cancer"], "absent_conditions": ["diabetes", "HIV"]},
    ]  # fmt: skip
    facts = [patient_facts(parse_patient(p)) for p in patients]
    evaluate_items(stored[:50], facts[0])  # warm-up: loads the catalogue and the vocabulary
    best = float("inf")
    for _ in range(max(1, repeat)):
        started = time.process_time()
        for f in facts:
            evaluate_items(stored, f)
        best = min(best, time.process_time() - started)
    per_item = best / (len(stored) * len(facts)) * 1e6
    print(
        f"evaluation, best of {repeat}   {per_item:.1f} µs CPU per item ({len(stored)} items x {len(facts)} patients)"
    )


def worst_shapes() -> dict[str, str]:
    """Criteria texts that once cost the parser minutes and gigabytes (issue 14)."""
    head = "Inclusion Criteria:\n* "
    just_under = "within the past 6 months of " * 350  # 9,800 characters: one item, parsed
    return {
        "140 KB 'within the past 6 months of' repeated": head + "within the past 6 months of " * 5000,
        "1.3 MB single line": head + "age 18 years or older and eGFR >= 30 " * 35000,
        "10 items of 9,800 chars (rule budget)": "Inclusion Criteria:\n" + f"* {just_under}\n" * 10,
        "20,000 numbers": head + " ".join(f"{i} mg/dL" for i in range(20000)),
        "5,000 nested parentheses": head + "(" * 5000 + "HbA1c < 7%" + ")" * 5000,
        "20,000 short items": "Exclusion Criteria:\n" + "* HbA1c > 9% within 3 months\n" * 20000,
    }


def bench_worst_shapes() -> None:
    for name, text in worst_shapes().items():
        started = time.perf_counter()
        items = parse_criteria(text)
        elapsed = time.perf_counter() - started
        with_rules = sum(1 for item in items if item.rules)
        print(f"worst shape: {name:45s} {elapsed:6.2f} s  {len(items)} items, {with_rules} with rules")


def _parse_json(text: str) -> list[dict[str, object]]:
    """What a re-parse worker hands back to be stored: each item's JSON."""
    return [item.to_dict() for item in parse_criteria(text)]


if __name__ == "__main__":
    main()
    bench_worst_shapes()
