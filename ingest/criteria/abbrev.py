"""Abbreviations: the ones a trial defines in its own text, merged over a curated list.

Trial-defined pairs ("lupus nephritis (LN)") come from the Schwartz-Hearst
algorithm (the ``abbreviations`` package); the curated list is
``data/abbreviations.json``. Expansion adds, for each term, what its
abbreviations stand for and the abbreviation of a spelled-out term, so a rule
on "LN" and a patient with "lupus nephritis" meet.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from types import ModuleType

from ingest.criteria.catalogue import load_curated_abbreviations

_PAREN_RE = re.compile(r" \(([^()\n]{2,12})\)")
_ABBR_TOKEN_RE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*\b")
_schwartz_hearst: ModuleType | None = None


class AbbreviationMap(dict[str, str]):
    """Short form → expansion, with the reverse lookup (expansion → short form) built once.

    ``written``: the short forms the trial's text holds as words (None: not known), so an
    item is searched for those few rather than split into words (criteria.mentions).
    """

    _reverse: dict[str, str] | None = None
    written: frozenset[str] | None = None

    def reverse(self) -> dict[str, str]:
        if self._reverse is None:
            self._reverse = {v.lower(): k for k, v in self.items()}
        return self._reverse

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self._reverse = None


@cache
def _curated() -> AbbreviationMap:
    curated = AbbreviationMap(load_curated_abbreviations())
    curated.reverse()
    return curated


def _import_schwartz_hearst() -> ModuleType:
    """Import the ``abbreviations`` package without its import-time ``logging.basicConfig``.

    abbreviations 0.2.5 configures the root logger at INFO when imported, which
    would make every later ``logging`` call in the process print; the root
    logger's handlers and level are restored afterwards.
    """
    global _schwartz_hearst
    if _schwartz_hearst is None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            from abbreviations import schwartz_hearst
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        logging.getLogger(schwartz_hearst.__name__).setLevel(logging.WARNING)
        _schwartz_hearst = schwartz_hearst
    return _schwartz_hearst


def _definition_snippets(text: str) -> list[str]:
    """For each "(ABBR)" in the text, the words just before it — all Schwartz-Hearst needs.

    A definition is at most min(|A| + 5, 2|A|) words long, so 160 characters
    before the parenthesis are plenty; the snippet starts after any earlier
    parenthesis so that it stays balanced.
    """
    snippets = []
    curated = load_curated_abbreviations()
    for m in _PAREN_RE.finditer(text):
        candidate = m.group(1).strip()
        # Only abbreviation-shaped candidates ("LN", "eGFR", "CLIF-C"), and not the curated ones
        # (which are already expanded), reach the extractor.
        if sum(c.isupper() for c in candidate) < 2 or " " in candidate or candidate in curated:
            continue
        # A short form used only where it is defined needs no expansion anywhere else.
        if text.count(candidate) < 2:
            continue
        lo = max(0, m.start() - 160)
        window_start = max(text.rfind("\n", lo, m.start()), text.rfind("(", lo, m.start()),
                           text.rfind(")", lo, m.start()))  # fmt: skip
        start = window_start + 1 if window_start >= 0 else lo
        snippets.append(text[start : m.end()])
    return snippets


# A word: what lies between spaces and these marks. An ASCII text is split by ``translate`` to
# spaces (C's fast path for one-byte text); any other by one regular expression, which there
# takes a quarter of the time (fixture criteria, 2026-12-08).
_TO_SPACE = str.maketrans({c: " " for c in "()[]{},;:.!?\"'*/\\"})
_WORD_RE = re.compile(r"""[^\s()\[\]{},;:.!?"'*/\\]+""")


def _written(text: str, abbreviations: AbbreviationMap) -> frozenset[str]:
    words = text.translate(_TO_SPACE).split() if text.isascii() else _WORD_RE.findall(text)
    return frozenset(filter(abbreviations.__contains__, set(words)))


def extract_abbreviations(text: str) -> AbbreviationMap:
    """Abbreviations defined in ``text`` ("lupus nephritis (LN)"), merged over the curated list."""
    curated = _curated()
    merged = AbbreviationMap(curated)
    merged._reverse = curated.reverse()
    snippets = _definition_snippets(text.replace("\\", ""))
    if not snippets:
        merged.written = _written(text, merged)
        return merged
    module = _import_schwartz_hearst()
    pairs = module.extract_abbreviation_definition_pairs(doc_text="\n".join(snippets))
    found = {}
    for short, long in pairs.items():
        short_s, long_s = str(short).strip(), str(long).strip()
        if 2 <= len(short_s) <= 12 and len(long_s) > len(short_s):
            found[short_s] = long_s
    if found:
        merged.update(found)
        merged._reverse = {**curated.reverse(), **{v.lower(): k for k, v in found.items()}}
    merged.written = _written(text, merged)
    return merged


def expand_terms(terms: list[str], abbreviations: dict[str, str]) -> tuple[str, ...]:
    """Each term plus what its abbreviations stand for (and the abbreviation of a spelled-out term)."""
    if isinstance(abbreviations, AbbreviationMap):
        reverse = abbreviations.reverse()
    else:
        reverse = {v.lower(): k for k, v in abbreviations.items()}
    out: list[str] = []
    seen: set[str] = set()
    for term in terms:
        candidates = [term]
        # An abbreviation token has an upper-case letter, so an all-lower-case term has none.
        for token in _ABBR_TOKEN_RE.findall(term) if term != term.lower() else ():
            long = abbreviations.get(token) or abbreviations.get(token.rstrip("s"))
            if long:
                candidates.append(long if token == term else term.replace(token, long))
        short = reverse.get(term.lower())
        if short:
            candidates.append(short)
        for c in candidates:
            if c and c.lower() not in seen:
                seen.add(c.lower())
                out.append(c)
    return tuple(out)
