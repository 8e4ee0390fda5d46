"""Matching a region hint ("MA", "Minnesota", "Castilla Y León", "Aichi") to admin1 codes.

Registries spell regions many ways: postal abbreviations, English or local
names, with or without a generic word ("Aichi Ken", "Shandong Province",
"Incheon-gwangyeoksi [Incheon]"). Names are compared folded, then without
generic words, then fuzzily within a country.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from importlib import resources

from rapidfuzz import fuzz, process

from ingest.places.names import fold

# Words that only say "this is a region" ("Aichi Ken", "Shandong Province").
_GENERIC = frozenset(
    json.loads(resources.files("ingest.places").joinpath("data/place_words.json").read_text())["region_words"]
)
FUZZY_CUTOFF = 88.0


def region_keys(text: str) -> list[str]:
    """Folded lookup keys for a region spelling: as written, inside/outside brackets, bare."""
    keys: list[str] = []
    pieces = [text, *re.findall(r"[\[\(]([^\]\)]+)[\]\)]", text), re.sub(r"[\[\(].*?[\]\)]", "", text)]
    for piece in pieces:
        key = fold(piece)
        bare = " ".join(w for w in key.split() if w not in _GENERIC)
        for candidate in (key, bare):
            if candidate and candidate not in keys:
                keys.append(candidate)
    return keys


class RegionIndex:
    """Folded region names and abbreviations → {(country, admin1 code)}, in memory (~1k regions)."""

    def __init__(self, rows: Iterable[tuple[str, str, str]], display: dict[tuple[str, str], str]):
        self.display = display
        self._codes: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._by_country: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for name, cc, code in rows:
            for key in region_keys(name) if len(name) > 3 else [name]:
                self._codes[key].add((cc, code))
                self._by_country[cc][key].add(code)

    def match(self, hint: str, country: str | None = None) -> set[tuple[str, str]]:
        """(country, admin1 code) pairs the hint can mean; empty if none."""
        keys = region_keys(hint)
        found = {pair for key in keys for pair in self._codes.get(key, ()) if country in (None, pair[0])}
        if found or len(fold(hint)) < 4:
            return found
        countries = [country] if country else list(self._by_country)
        for cc in countries:
            table = self._by_country.get(cc)
            if not table:
                continue
            for key in keys:
                best = process.extractOne(key, table.keys(), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
                if best:
                    found.update((cc, code) for code in table[best[0]])
        return found

    def countries(self, hint: str) -> list[str]:
        """Countries having a region with this name (exact or bare spelling only)."""
        found = {cc for key in region_keys(hint) for cc, _ in self._codes.get(key, ())}
        return sorted(found)

    def name(self, country: str, code: str | None) -> str | None:
        return self.display.get((country, code)) if code else None
