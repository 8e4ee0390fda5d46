"""Referral-letter parsing: per-field precision/recall on the labelled letters, age/sex on the
TrialGPT vignettes, and letters per second.

    .venv/bin/python -m bench.referral
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from matching.referral import parse_referral

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "referrals"


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line]


def _sets(patient: dict[str, Any]) -> dict[str, set[Any]]:
    return {
        "conditions": {c.lower() for c in patient.get("conditions", [])},
        "measurements": {
            (m["name"].lower(), round(float(m["value"]), 3)) for m in patient.get("measurements", [])
        },
        "treatments": {
            t["name"].lower() if isinstance(t, dict) else t.lower() for t in patient.get("treatments", [])
        },
    }


def main() -> None:
    letters = _load("letters.jsonl")
    counts = {f: [0, 0, 0] for f in ("conditions", "measurements", "treatments")}  # hit, found, expected
    exact = {"age": 0, "sex": 0, "location": 0}
    for row in letters:
        got = parse_referral(row["text"]).patient
        want = row["expected"]
        exact["age"] += got.get("age") == want["age"]
        exact["sex"] += got.get("sex") == want["sex"]
        exact["location"] += str(got.get("location", "")).lower() == want["location"].lower()
        expected = _sets(
            {
                "conditions": want["conditions"],
                "measurements": [{"name": n, "value": v} for n, v in want["measurements"]],
                "treatments": want["treatments"],
            }
        )
        found_sets = _sets(got)
        for field, (hit_found_expected) in counts.items():
            hit_found_expected[0] += len(found_sets[field] & expected[field])
            hit_found_expected[1] += len(found_sets[field])
            hit_found_expected[2] += len(expected[field])
    n = len(letters)
    print(f"labelled letters: {n}")
    for field, right in exact.items():
        print(f"  {field:<13} {right}/{n} = {100 * right / n:.1f} %")
    for field, (hit, found, wanted) in counts.items():
        precision = 100 * hit / found if found else 100.0
        recall = 100 * hit / wanted if wanted else 100.0
        print(
            f"  {field:<13} precision {precision:.1f} %  recall {recall:.1f} %  ({hit} of {wanted} expected, {found} found)"
        )
    vignettes = _load("vignettes.jsonl")
    both = sum(
        1
        for v in vignettes
        if (p := parse_referral(v["text"]).patient).get("age") == v["age"] and p.get("sex") == v["sex"]
    )
    print(f"vignettes: age+sex right {both}/{len(vignettes)} = {100 * both / len(vignettes):.1f} %")
    texts = [row["text"] for row in letters] + [v["text"] for v in vignettes]
    parse_referral(texts[0])  # warm the caches (vocabulary, catalogue)
    started = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for text in texts:
            parse_referral(text)
    elapsed = time.perf_counter() - started
    print(f"speed: {rounds * len(texts) / elapsed:.0f} letters/s ({len(texts)} letters x {rounds})")


if __name__ == "__main__":
    main()
