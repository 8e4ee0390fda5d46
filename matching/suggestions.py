"""Close place names for a query that matched nothing ("Valladolud" → "Valladolid (ES)").

Candidates are the primary names of all places sharing the query's first letter
(a typo rarely hits the first letter, and it keeps each search to a few
thousand names); rapidfuzz ranks them, population breaks ties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rapidfuzz import fuzz, process

from matching.names import fold

SCORE_CUTOFF = 70.0
Rows = Callable[[str, Iterable[Any]], list[tuple[Any, ...]]]


class Suggester:
    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._by_letter: dict[str, tuple[list[str], list[tuple[str, str, int]]]] = {}
        self._in_country: dict[tuple[str, str], list[str]] = {}

    def _letter(self, letter: str) -> tuple[list[str], list[tuple[str, str, int]]]:
        cached = self._by_letter.get(letter)
        if cached is None:
            rows = self._rows(
                "SELECT name, country_code, display, population FROM suggest WHERE name >= ? AND name < ?",
                (letter, chr(ord(letter) + 1)),
            )
            cached = ([r[0] for r in rows], [(r[1], r[2], r[3]) for r in rows])
            self._by_letter[letter] = cached
        return cached

    def closest(self, text: str, *, country: str, cutoff: float) -> list[str]:
        """Folded names in ``country`` at least ``cutoff`` similar to ``text``, best first."""
        key = fold(text)
        if len(key) < 4:
            return []
        names = self._in_country.get((key[0], country))
        if names is None:
            letter_names, info = self._letter(key[0])
            names = [name for name, row in zip(letter_names, info, strict=True) if row[0] == country]
            self._in_country[(key[0], country)] = names
        matches = process.extract(key, names, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3)
        return [name for name, _, _ in matches]

    def suggest(self, text: str, *, country: str | None = None, limit: int = 5) -> list[str]:
        key = fold(text)
        if not key:
            return []
        names, info = self._letter(key[0])
        matches = process.extract(
            key, names, scorer=fuzz.ratio, score_cutoff=SCORE_CUTOFF, limit=max(50, limit * 10)
        )
        ranked = sorted(
            (m for m in matches if country in (None, info[m[2]][0])),
            key=lambda m: (-round(m[1] / 5), -info[m[2]][2]),
        )
        out: list[str] = []
        for _, _, index in ranked:
            cc, display, _population = info[index]
            label = f"{display} ({cc})"
            if label not in out:
                out.append(label)
            if len(out) == limit:
                break
        return out
