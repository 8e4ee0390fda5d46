"""Per-criterion verdicts against research nurses' labels, on patients nobody here wrote.

    .venv/bin/python -m bench.verdicts [--examples N]

350 patient–criterion pairs (``tests/fixtures/verdicts/``): real registry items, patients from
the TREC case notes and referral letters, each labelled included / not included / excluded /
not excluded / not enough information / not applicable. The patient text goes through
``referral parse``, the item through the criteria parser, and the verdict through the
evaluation ``match`` uses. A verdict is *decided* when it is met or not met; it *agrees* when
met goes with included / not excluded / not applicable and not met with not included /
excluded. A wrong "not met" ranks a trial down for a patient the nurse found eligible on it.
A third of the pairs (by SHA-1 of the pair id) is reported apart, never looked at while tuning.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ingest.criteria import extract_abbreviations, parse_rules
from matching.patient import Patient, parse_patient
from matching.referral import parse_referral
from matching.verdicts import evaluate_trial_criteria

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
MEETS = {"included", "not excluded", "not applicable"}
FAILS = {"not included", "excluded"}


def held_out(pair_id: str) -> bool:
    return int(hashlib.sha1(pair_id.encode()).hexdigest(), 16) % 3 == 0


def load_pairs() -> list[dict[str, Any]]:
    rows = []
    for path in sorted((FIXTURES / "verdicts").glob("pairs_*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


@cache
def _patient_texts() -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted((FIXTURES / "casenotes").glob("*_labelled.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts[row["id"]] = row["text"]
    letters = (FIXTURES / "referrals" / "letters.jsonl").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(letters, start=1):
        texts[f"letter-{i}"] = json.loads(line)["text"]
    return texts


@cache
def patient_of(patient_id: str) -> Patient:
    return parse_patient(parse_referral(_patient_texts()[patient_id]).patient, strict_units=False)


def verdict(pair: dict[str, Any]) -> dict[str, Any]:
    item, section = pair["item_text"], pair["section"]
    rules = parse_rules(item, section, extract_abbreviations(item))
    row = {"position": 0, "section": section, "text": item, "rules": [r.to_dict() for r in rules]}
    return evaluate_trial_criteria([row], patient_of(pair["patient_id"]))[0]


@dataclass
class Tally:
    total: int = 0
    decided: int = 0
    agreed: int = 0
    wrong_not_met: list[str] = field(default_factory=list)
    wrong_met: list[str] = field(default_factory=list)

    def add(self, pair: dict[str, Any], result: dict[str, Any]) -> None:
        self.total += 1
        status, label = result["status"], pair["label"]
        if status == "unknown":
            return
        self.decided += 1
        agrees = (status == "met" and label in MEETS) or (status == "not_met" and label in FAILS)
        self.agreed += agrees
        if not agrees:
            line = f"{pair['pair_id']} [{pair['section']}] {pair['item_text'][:90]!r} — nurse: {label}; trialsite: {status} ({result['reason']})"
            (self.wrong_not_met if status == "not_met" else self.wrong_met).append(line)

    def lines(self, title: str) -> list[str]:
        share = self.decided / self.total if self.total else 0
        agreement = self.agreed / self.decided if self.decided else 0
        return [
            title,
            f"  decided {self.decided}/{self.total} = {share:.1%}; agreement on decided {self.agreed}/{self.decided} = {agreement:.1%}",
            f"  wrong 'not met' {len(self.wrong_not_met)} ({len(self.wrong_not_met) / max(self.total, 1):.1%} of all pairs);"
            f" wrong 'met' {len(self.wrong_met)}",
        ]


def tally(pairs: Iterable[dict[str, Any]]) -> Tally:
    result = Tally()
    for pair in pairs:
        result.add(pair, verdict(pair))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=10, help="wrong verdicts to print (tuning set only)")
    args = parser.parse_args(argv)
    pairs = load_pairs()
    tuning = tally(p for p in pairs if not held_out(p["pair_id"]))
    aside = tally(p for p in pairs if held_out(p["pair_id"]))
    print("\n".join(tuning.lines(f"tuning pairs ({tuning.total})")))
    for line in tuning.wrong_not_met[: args.examples]:
        print(f"    wrong not met: {line}")
    for line in tuning.wrong_met[: args.examples]:
        print(f"    wrong met: {line}")
    print("\n".join(aside.lines(f"HELD-OUT pairs ({aside.total}, never looked at)")))


if __name__ == "__main__":
    main()
