"""What reading a letter gives: the patient profile and, for every fact, the words it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Evidence:
    """``text`` is ``letter[start:end]``; ``concept`` names the vocabulary concept read there."""

    field: str
    text: str
    start: int
    end: int
    concept: dict[str, str] | None = None


@dataclass(slots=True)
class Parse:
    patient: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    ignored: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def spans(items: list[Evidence]) -> list[dict[str, Any]]:
            out = []
            for e in items:
                item: dict[str, Any] = {"field": e.field, "text": e.text, "start": e.start, "end": e.end}
                if e.concept:
                    item["concept"] = e.concept
                out.append(item)
            return out

        return {
            "patient": self.patient,
            "evidence": spans(self.evidence),
            "ignored": spans(self.ignored),
            "warnings": self.warnings,
        }
