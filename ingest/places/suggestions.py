"""Close place names for a query that matched nothing ("Valladolud" → "Valladolid (ES)").

Candidates are the primary names of all places sharing the query's first letter
(a typo rarely hits the first letter, and it keeps each search to a few
thousand names); rapidfuzz ranks them, population breaks ties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rapidfuzz import fuzz, process

from ingest.places.names import fold

SCORE_CUTOFF = 70.0
Rows = Callable[[str, Iterable[Any]], list[tuple[Any, ...]]]


class Suggester:
    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._lists: dict[tuple[str, str | None], tuple[list[str], list[tuple[str, str, int]]]] = {}

    def _names(self, letter: str, country: str | None) -> tuple[list[str], list[tuple[str, str, int]]]:
        """Folded names starting with ``letter`` (in ``country``), and (country, display, population)."""
        cached = self._lists.get((letter, country))
        if cached is None:
            sql = "SELECT name, country_code, display, population FROM suggest WHERE name >= ? AND name < ?"
            params: tuple[str, ...] = (letter, chr(ord(letter) + 1))
            if country:
                sql, params = sql + " AND country_code = ?", (*params, country)
            rows = self._rows(sql, params)
            cached = ([r[0] for r in rows], [(r[1], r[2], r[3]) for r in rows])
            self._lists[(letter, country)] = cached
        return cached

    def closest(self, text: str, *, country: str, cutoff: float) -> list[str]:
        """Folded names in ``country`` at least ``cutoff`` similar to ``text``, best first."""
        key = fold(text)
        if len(key) < 4:
            return []
        names, _ = self._names(key[0], country)
        matches = process.extract(key, names, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3)
        return [name for name, _, _ in matches]

    def suggest(self, text: str, *, country: str | None = None, limit: int = 5) -> list[str]:
        key = fold(text)
        if not key:
            return []
        names, info = self._names(key[0], country)
        matches = process.extract(
            key, names, scorer=fuzz.ratio, score_cutoff=SCORE_CUTOFF, limit=max(50, limit * 10)
        )
        # Similar scores (in steps of 5) are ordered by population: "Valladolid, ES" first.
        ranked = sorted(matches, key=lambda m: (-round(m[1] / 5), -info[m[2]][2]))
        out: list[str] = []
        for _, _, index in ranked:
            cc, display, _population = info[index]
            label = f"{display} ({cc})"
            if label not in out:
                out.append(label)
            if len(out) == limit:
                break
        return out
