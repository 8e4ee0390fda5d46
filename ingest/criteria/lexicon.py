"""Shared vocabulary of the rule extractors: numbers, units, comparator words, clauses, negation.

These are patterns of *how criteria are written* (grammar), not clinical
knowledge; the clinical knowledge (variables, unit factors, abbreviations)
lives in ``data/``.

Speed matters (a full-registry reparse is ~600,000 trials), so every pattern
here is written in lower case and run, without ``re.IGNORECASE``, on a
lower-cased copy of the item (:class:`ItemText`): case-folding inside ``re`` is
several times slower. Comparators are recognised by matching a reversed trie
against the reversed text just before a number, which costs one anchored
match per number instead of a scan of the whole item.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import TypeAlias

# 100,000 and 100 000 are thousands; 1,5 is a European decimal comma. ``\d\d*`` rather than
# ``\d+``: a pattern that opens with a character class lets ``re`` skip ahead to the next digit.
NUM = r"(?:\d\d*(?:(?:[,  ]\d{3})+(?![\d])|[.,]\d+)?)"
NUM_RE = re.compile(NUM)

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30, "forty-eight": 48, "sixty": 60, "ninety": 90,
}  # fmt: skip


def contains_any(text: str, words: Iterable[str]) -> bool:
    """Is any of ``words`` a substring of ``text``? The gate in front of a pattern that opens with
    ``\\b`` or a look-behind, which ``re`` has to try at every position of the text."""
    # A plain loop, not any(<generator>): it is called for most items and runs twice as fast.
    for word in words:  # noqa: SIM110
        if word in text:
            return True
    return False


def last_word_in(text: str, words: frozenset[str]) -> bool:
    """Is the last word of ``text`` one of ``words`` (lower case)?

    The gate in front of a case-insensitive ``(?:\\s+(?:word|…))+$`` pattern, which ``re``
    tries at every space: it can only match when the text ends with one of its words. A
    non-ASCII last word answers yes (``re`` folds some letters, like "ſ", that ``lower`` keeps).
    """
    parts = text.rsplit(None, 1)
    return bool(parts) and (not parts[-1].isascii() or parts[-1].lower() in words)


def parse_number(text: str) -> float:
    """``"100,000"`` → 100000, ``"1,5"`` → 1.5, ``"six"`` → 6."""
    if text.isdigit() and text.isascii():
        return float(text)
    t = text.strip().lower()
    if t in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[t])
    t = t.replace(" ", "").replace(" ", "")
    thousands = _THOUSANDS_RE.fullmatch(t) is not None
    return float(t.replace(",", "") if thousands else t.replace(",", "."))


_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}


def parse_roman(text: str) -> float | None:
    value = _ROMAN.get(text.strip().lower())
    return float(value) if value is not None else None


_Trie: TypeAlias = dict[str, "_Trie"]


def trie_pattern(words: Iterable[str], *, space: str = r"\s+") -> str:
    """A regex alternation of literal ``words`` built as a character trie (cheap for ``re`` to try).

    A space inside a word matches ``space``.
    """
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: _Trie) -> str:
        branches = [
            (space if ch == " " else re.escape(ch)) + render(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return render(trie)


# A trie, not a longest-first alternation: same matches, tried in one pass per position.
NUMBER_WORD = r"(?:" + trie_pattern(_NUMBER_WORDS) + r")"
_SPELLED_RE = re.compile(rf"(?<![a-z-])(?P<w>{NUMBER_WORD})[ \t]*\(\Z")


def spelled_out(low: str, start: int, end: int) -> int | None:
    """Where "six (6)" begins, when the figure at ``low[start:end]`` repeats a number word in brackets."""
    if not (start and low[start - 1] == "(" and low.startswith(")", end)):
        return None
    m = _SPELLED_RE.search(low, max(0, start - 16), start)
    if m is None or parse_number(m["w"]) != parse_number(low[start:end]):
        return None
    return m.start()


# Comparator phrases as written (lower case, single spaces). Order is irrelevant:
# the reversed trie always takes the longest phrase ending right before a number.
_PHRASES: dict[str, list[str]] = {
    ">=": [
        "greater than or equal to", "greater than or equal", "more than or equal to", "higher than or equal to",
        "greater or equal to", "greater or equal", "superior or equal to", "equal to or greater than",
        "equal or greater than", "equal to or more than", "equal or more than", "equal to or higher than",
        "equal or higher than", "equal to or above", "at least", "not less than", "no less than", "not lower than",
        "no lower than", "not below", "no fewer than", "not fewer than", "a minimum of", "minimum of", "minimum",
        "min.", "≥", "≧", "⩾", ">=", "> =", "=>", "≥/=", ">/=", "> or =", "≥ =",
    ],
    "<=": [
        "less than or equal to", "less than or equal", "lower than or equal to", "smaller than or equal to",
        "less or equal to", "less or equal", "inferior or equal to", "equal to or less than", "equal or less than",
        "equal to or lower than", "equal or lower than", "equal to or below", "at most", "not more than",
        "no more than", "not greater than", "no greater than", "not higher than", "no higher than", "not above",
        "not exceeding", "not to exceed", "does not exceed", "do not exceed", "must not exceed",
        "should not exceed", "not over", "a maximum of", "maximum of", "maximum", "max.", "max", "up to", "≤",
        "≦", "⩽", "<=", "< =", "=<", "≤/=", "</=", "< or =", "≤ =",
    ],
    ">": [
        "greater than", "more than", "higher than", "larger than", "superior to", "in excess of", "exceeding",
        "exceeds", "exceed", "above", "over", "older than", ">", "＞",
    ],
    "<": [
        "less than", "lower than", "smaller than", "fewer than", "inferior to", "younger than", "below", "under",
        "<", "＜",
    ],
    "=": ["equal to", "equals", "="],
}  # fmt: skip
_PHRASES[">="] += [
    "> or equal to",
    "> or equal",
    ">or=",
    "≥ or equal to",
    "greater than equal to",
    "more than equal to",
    # as written in real registry items: "Age greater than to or equal 18 years"
    "greater than to or equal",
    "greater than to or equal to",
]
_PHRASES["<="] += [
    "< or equal to",
    "< or equal",
    "<or=",
    "≤ or equal to",
    "less than equal to",
    "lesser than or equal to",
    "lesser than or equal",
    "lesser or equal to",
    "equal to or lesser than",
    "less than to or equal",
    "less than to or equal to",
]
_PHRASES["<"] += ["lesser than"]
# A phrase followed by its symbol in brackets: "less than (<) 40 years", "greater than or equal to (≥) 9".
_SYMBOLS = {">=": ("≥", ">="), "<=": ("≤", "<="), ">": (">",), "<": ("<",)}
for _cmp, _symbols in _SYMBOLS.items():
    _PHRASES[_cmp] += [
        f"{p} {form}"
        for p in list(_PHRASES[_cmp])
        if p[0].isalpha()
        for s in _symbols
        for form in (s, f"({s})")
    ]
COMPARATOR_OF_PHRASE: dict[str, str] = {p: c for c, phrases in _PHRASES.items() for p in phrases}
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz"
# Reversed: optional "value of"/"the" (reversed), then the reversed phrase, then a
# left word boundary (in the reversed text: not followed by a letter).
_CMP_REVERSED_RE = re.compile(
    r"[ \t]*(?:(?P<age>(?:fo\s+)?ega\s+(?:eht\s+)?)|(?P<grade>edarg\s*(?:[\d.]*v?\s*(?:eacts?|ea\s*ctc|ctc)\s*(?:icn\s*)?)?))?"
    r"(?:fo\s+(?:eulav|egareva|naem)\s+(?:na?\s+)?)?(?:eht\s+)?(?P<cmp>"
    + trie_pattern(p[::-1] for p in COMPARATOR_OF_PHRASE)
    + r")"
)


def comparator_before(low: str, number_start: int) -> tuple[str, int, str | None] | None:
    """The comparator written just before ``low[number_start]``, where it starts, and a hint.

    The hint is ``"age"`` for "over the age of 21" and ``"grade"`` for "≥ grade 2".
    """
    lo = max(0, number_start - 48)
    tail = low[lo:number_start][::-1]
    m = _CMP_REVERSED_RE.match(tail)
    if m is None:
        return None
    phrase = " ".join(m.group("cmp")[::-1].split())
    comparator = COMPARATOR_OF_PHRASE.get(phrase)
    start = number_start - m.end()
    if comparator is None or (phrase[0].isalpha() and start > 0 and low[start - 1].isalpha()):
        return None
    hint = "age" if m.group("age") else "grade" if m.group("grade") else None
    return comparator, start, hint


POSTFIX_RE = re.compile(
    r"[ \t]*(?:of\s+age\s+|old\s+|of\s+age,?\s+)?"
    r"(?:(?P<ge>(?:or|and)\s+(?:more|greater|higher|above|over|(?P<age>older)|longer)(?!\s+than)|\+)"
    r"|(?P<le>(?:or|and)\s+(?:less|lower|fewer|below|under|(?P<age2>younger)|smaller)(?!\s+than)))"
)
# "4 to <8 years", "6 months to less than 13 years": read as the range they bound.
RANGE_TAIL_RE = re.compile(
    rf"\s*(?P<sep>-|–|—|~|to|through|and)\s*(?:<\s*=?|≤|less\s+than|under|below)?\s*(?P<hi>{NUM})(?![\d/])"
)
RANGE_HEAD_RE = re.compile(
    r"(?<![a-z])(?:between(?P<age>\s+(?:the\s+)?ages?\s+(?:of\s+)?)?|from|ranging\s+from|(?:with)?in\s+the\s+range(?:\s+of)?|range(?:\s+of)?|in\s+range)\s*$"
)

TIME_UNIT = r"(?:years?|yrs?|y(?=\s*(?:old|/o))|months?|mos?|mths?|weeks?|wks?|days?|hours?|hrs?)"

ULN_UNIT = (
    r"(?:(?:[x×*]|times|fold)\s*(?:the\s+)?(?:institutional\s+|local\s+|laboratory\s+)?"
    r"(?:upper\s+limits?(?:\s+of\s+(?:the\s+)?normal(?:\s+range)?)?|upper\s+normal\s+limits?|uln|unl|ulrr|n(?![a-z])|"
    # "transaminases > 2x normal", "over 2 times normal range": a multiple of normal is one of its upper limit
    r"normal(?:\s+(?:range|values?|limits?))?(?![a-z]))"
    r"|(?:the\s+)?(?:institutional\s+)?(?:upper\s+limits?\s+of\s+(?:the\s+)?normal(?:\s+range)?|uln|unl|ulrr)"
    r"(?![a-z]))"
)
LLN_UNIT = r"(?:(?:[x×*]|times)\s*(?:the\s+)?)?(?:lower\s+limits?\s+of\s+(?:the\s+)?normal|lln)(?![a-z])"

_SQ = r"(?:2|²|\^2|\(2\))"
_VOL = r"(?:dl|l|ml|µl|μl|ul|deci(?:liter|litre)s?|(?:liter|litre)s?)"
UNIT = (
    r"(?:"
    + "|".join(
        [
            ULN_UNIT,
            LLN_UNIT,
            r"(?:[x×*]\s*)?10\s*(?:\^|\*\*?|e)?\s*(?:9|⁹|3|³|6|⁶|12|¹²|4|⁴|\((?:9|3|6|12|4)\))\s*(?:cells\s*)?"
            r"(?:/|per\s+)\s*"
            r"(?:l|µl|μl|ul|mm3|mm³|mm\^3|cumm|cmm|micro\s*lit(?:er|re)s?|lit(?:er|re)s?)(?![a-z])",
            r"(?:cells\s*)?(?:/|per\s+)\s*(?:mm3|mm³|mm\^3|cumm|cmm|µl|μl|ul|cubic\s+mm|micro\s*lit(?:er|re)s?)(?![a-z])",
            r"(?:cells|copies)\s*/\s*(?:mm3|mm³|µl|μl|ul|ml)",
            r"k\s*/\s*(?:µl|μl|ul|mm3|mm³)(?![a-z])",
            r"mmol\s*/\s*mol(?![a-z])",
            r"mm\s*/\s*h(?:r|our)?(?![a-z])",
            r"g/l(?![a-z])",
            r"ml\s*/\s*min(?:ute)?(?:\s*(?:/|per)\s*1[.,]73\s*m\s*"
            + _SQ
            + r"(?:\s*(?:bsa|body\s+surface\s+area))?)?",
            # "30 milliliter per minute per 1.73 square meter", "30 milli liter per min/1.73 meter square"
            r"milli\s*lit(?:er|re)s?\s*(?:/|per)\s*min(?:ute)?(?![a-z])(?:\s*(?:/|per)\s*1[.,]73\s*"
            r"(?:m\s*" + _SQ + r"|square\s+met(?:er|re)s?|met(?:er|re)s?\s+squared?))?",
            r"ml\s*/\s*s(?:ec)?(?:\s*/\s*1[.,]73\s*m\s*" + _SQ + r")?(?![a-z])",
            r"kg\s*/\s*m\s*" + _SQ,
            # "27.0 kilograms per square meter (kg/m^2)", "30 kilogram/square meter"
            r"(?:kg|kilograms?)\s*(?:/|per)\s*(?:square\s+met(?:er|re)s?|met(?:er|re)s?\s+squared?)(?![a-z])",
            # a score out of its maximum: "> 4/10 pain", "5/10 or greater", "40 out of 100 mm", "≥ 4 of 10 or
            # greater" (but "2 of 10 criteria" counts criteria)
            r"(?:/|out\s+of)\s*100?(?![\d.,/^])|of\s+100?(?=\s*(?:or\s|and\s|on\s|in\s|at\s|points?|[,;.)]|\Z))",
            r"(?:events?\s*)?(?:/|per\s+)\s*h(?:ours?|r)?(?![a-z])",
            r"mg\s*/\s*(?:kg|m" + _SQ + r")(?:\s*/\s*(?:day|d|week|wk))?(?![a-z])",
            r"(?:m|µ|μ|u|n|p)?g\s*/\s*(?:g|mg|mmol|mol)\s*(?:cr|creatinine|crea)?(?![a-z])",
            r"(?:m|µ|μ|u|n|p)?g\s*(?:/|per)\s*(?:24\s*-?\s*h(?:ours?|rs?|r)?|day|d)(?![a-z])",
            r"(?:milli)?grams?\s*(?:/|per)\s*(?:24\s*-?\s*h(?:ours?|rs?|r)?|day|d)(?![a-z])",
            r"(?:m|µ|μ|u|n|p|k|mc)?(?:g|mol|eq|iu|u|kat)\s*(?:/|per\s+)\s*" + _VOL + r"(?![a-z])",
            r"m(?:iu|u)\s*/\s*ml",
            r"(?:log10\s+)?(?:copies|iu)\s*/\s*ml",
            r"mm\s*hg|kpa|cm\s*h2o",
            r"bpm|beats\s*(?:/|per)\s*min(?:ute)?",
            r"ms(?:ec)?(?![a-z])|milliseconds?",
            r"sec(?:onds?)?(?![a-z])",
            r"(?:breaths?\s*)?(?:/|per\s+)\s*min(?:ute)?(?![a-z])",
            r"log\s*mar(?![a-z])",
            r"(?:microns?|µm|μm|um)(?![a-z])",
            r"ml(?![a-z/])",
            r"°(?!\s*(?:[cf](?![a-z])|celsius|fahrenheit))|degrees?(?!\s+(?:c|f|celsius|fahrenheit)(?![a-z]))(?![a-z])",
            r"%\s*(?:of\s+)?predicted|%|percent(?:age)?(?![a-z])",
            r"(?:rbcs?|wbcs?|cells)?\s*/\s*hpf",
            r"pack[\s-]*years?",
            r"[°º]\s*(?:celsius|fahrenheit|[cf])(?![a-z])|degrees?\s+(?:c|f|celsius|fahrenheit)(?![a-z])",
            r"(?:kg|kilograms?|lbs?|pounds)(?![a-z])",
            r"(?:cm|mm)(?![a-z0-9])|(?:centi|milli)met(?:er|re)s?(?![a-z])",
            r"(?:prism\s+)?diopt(?:er|re)s?(?![a-z])",
            r"mg(?:\s*(?:/|per)\s*(?:day|d|week))?(?:\s+daily)?(?![a-z])",
            r"points?(?![a-z])|pts(?![a-z])",
            r"letters(?![a-z])",
            r"db(?![a-z])|decibels?(?![a-z])",
            r"(?:g|grams?)(?![a-z/0-9])",
            r"(?:m|meters?|metres?)(?![a-z0-9²/^(])",
            TIME_UNIT + r"(?![a-z])",
        ]
    )
    + r")"
)
UNIT_RE = re.compile(r"[ \t]*(?P<unit>" + UNIT + r")")

# Where a clause ends, for negation scope and for event/term phrases.
# Punctuation breaks start with a character class (fast for ``re`` to scan for); word
# breaks are looked for only when one of the words occurs.
CLAUSE_BREAK_RE = re.compile(
    r"[;\n\x00.,](?:(?<=[;\n\x00])|(?<=\.)(?=\s|$)|(?<=,)\s*(?:and\s+)?(?=(?:must|should|will|are|is|have|has|who|"
    r"or\s+who|could|can|may|was|were|be)\b))"
)
WORD_BREAK_RE = re.compile(r"\b(?:but|however|whereas|although|unless|except)\b")
_WORD_BREAK_GATE_RE = re.compile(r"but|however|whereas|although|unless|except")
_SOFT_NEGATION_RE = re.compile(
    r"\bno[t]?\s+(?:more|less|greater|fewer|higher|lower|longer|shorter)\s+than|\bnot\s+exceeding|\bnot\s+to\s+exceed|"
    r"\bnot\s+limited\s+to|\bnot\s+only|\bwhether\s+or\s+not|\bif\s+not|\bnot\s+applicable|\bno\s+later\s+than|"
    r"\bnot\s+(?:below|above|over|under)\b|\b(?:does|do|did|must|should)\s+not\s+exceed|\bnot\s+necessarily|"
    r"\bwith\s+or\s+without|\bno\s+upper\s+age\s+limit|\bnot\s+(?:be\s+)?(?:considered|counted)|\bother\s+than|\bis\s+not\s+(?:required|necessary)|"
    # failures are conditions, not negations: "no response to …", "not adequately controlled"
    r"\b(?:no|non|not)[\s-](?:(?:or\s+partial\s+)?respon\w*|improvement|remission|adequately|well|controlled|"
    r"amenable|candidates?\s+for|eligible\s+for|suitable\s+for|fit\s+for)"
    r"|\b(?:lack|absence)\s+of\s+(?:(?:or\s+partial\s+)?respon\w*|efficacy|benefit|improvement|remission)"
)
# A literal in every soft negation: the gate in front of that costly pattern.
_SOFT_GATE_RE = re.compile(
    trie_pattern(
        ("than", "not", "other", "limit", "respon", "improv", "remission", "without", "adequate", "well", "control",
         "efficacy", "benefit",
         "amenable", "candidate", "eligible", "suitable", "fit", "whether")
    )
)  # fmt: skip
NEGATION_RE = re.compile(
    r"\b(?:no|not|without|never|none|nor|neither|absence\s+of|absent|free\s+of|negative|lack\s+of|denies)\b"
    # "non-" negates only the word it is written with: "non-diabetic", not "non-infectious pneumonitis"
    r"|n't\b|\bnon[\s-]$"
)
# A literal every NEGATION_RE match contains ("no" covers not, none, nor, non): a cheap gate,
# as the pattern opens with ``\b`` and so is tried at every position.
_NEGATION_WORDS = ("no", "without", "never", "neither", "absen", "free", "negative", "lack", "denies", "n't")
_NEGATIVE_MODIFIER_RE = re.compile(r"\bnegative\b(?!\s+(?:[a-z]+\s+){0,2}for\b)")
POST_NEGATION_RE = re.compile(
    r"\b(?:(?:is|are|will\s+be|would\s+be|be|shall\s+be|must\s+be)\s+(?:not\s+(?:eligible|allowed|permitted|included|"
    r"accepted|enrolled)|excluded|ineligible|exclusionary|prohibited|disqualified)|not\s+(?:eligible|allowed|permitted)|"
    r"(?:is|are)\s+an?\s+exclusion|exclusionary)\b"
)
PERMISSIVE_RE = re.compile(
    r"\b(?:(?:is|are|will\s+be|may\s+be|can\s+be|be)\s+(?:allowed|permitted|eligible|included|accepted|enrolled)|"
    r"(?:is|are)\s+not\s+(?:excluded|exclusionary)|not\s+(?:be\s+)?excluded)\b"
)


def fold(text: str) -> str:
    """Lower-case ``text`` keeping every offset: backslashes become spaces, and a
    character whose lower case is longer than one character is kept as is."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.replace("\\", " ") if "\\" in low else low


class ItemText:
    """One item's text, its folded copy and section, with clause breaks computed once."""

    __slots__ = ("_breaks", "_negatable", "low", "section", "text")

    def __init__(self, text: str, section: str) -> None:
        self.text = text
        self.low = fold(text)
        self.section = section
        self._breaks: tuple[list[int], list[int]] | None = None
        self._negatable: bool | None = None

    def _clause_breaks(self) -> tuple[list[int], list[int]]:
        if self._breaks is None:
            spans = [m.span() for m in CLAUSE_BREAK_RE.finditer(self.low)]
            if _WORD_BREAK_GATE_RE.search(self.low):
                spans = sorted(spans + [m.span() for m in WORD_BREAK_RE.finditer(self.low)])
            self._breaks = ([s for s, _ in spans], [e for _, e in spans])
        return self._breaks

    def clause(self, start: int, end: int) -> tuple[int, int]:
        """The clause around ``[start, end)``: from the last clause break before to the next one after."""
        starts, ends = self._clause_breaks()
        i = bisect_right(ends, start)
        left = ends[i - 1] if i else 0
        j = bisect_left(starts, end)
        right = starts[j] if j < len(starts) else len(self.low)
        return left, right

    def negatable(self) -> bool:
        """Could anything in the item be negated (a negation word, or in an inclusion a trailing
        "… are not eligible")? Answered once per item: most items hold no negation at all."""
        if self._negatable is None:
            low = self.low
            self._negatable = (
                contains_any(low, _NEGATION_WORDS) and NEGATION_RE.search(low) is not None
            ) or (self.section == "inclusion" and ("exclu" in low or "not" in low or "prohibit" in low))
        return self._negatable

    def negated(self, start: int, end: int, *, negative_before: bool = True) -> bool:
        """Does the clause negate the statement at ``[start, end)``?

        A negation word before it ("no history of", "must not", "negative")
        counts; so does a trailing "… are not eligible" / "will be excluded",
        but only in an inclusion section (in an exclusion section it restates
        the section). ``negative_before=False``: a bare "negative" before the
        statement does not negate it ("ALK-negative NSCLC" is NSCLC), "negative
        for" still does.
        """
        left, right = self.clause(start, end)
        # A parenthesis the statement sits in is a definition: "(systolic > 140)" after
        # "cannot control" is not negated by it. Negation also fades after ~90 characters.
        opened = self.low.rfind("(", left, start)
        if opened >= 0 and self.low.find(")", opened, start) < 0:
            left = opened + 1
        left = max(left, start - 90)
        before = self.low[left:start]
        # Gate on the negation words themselves: "free of" and "lack of" have no "n" in them.
        # Soft negations ("no response to", "with or without") are removed before the search.
        if contains_any(before, _NEGATION_WORDS):
            if _SOFT_GATE_RE.search(before):
                before = _SOFT_NEGATION_RE.sub(" ", before)
            if not negative_before and "negative" in before:
                before = _NEGATIVE_MODIFIER_RE.sub(" ", before)
            negated = contains_any(before, _NEGATION_WORDS) and NEGATION_RE.search(before) is not None
        else:
            negated = False
        if (
            self.section == "inclusion"
            and ("exclu" in self.low or "not" in self.low or "prohibit" in self.low)
            and POST_NEGATION_RE.search(self.low, end, right)
        ):
            negated = not negated
        return negated

    def permissive(self, start: int, end: int) -> bool:
        """Does the clause state no requirement ("… are allowed / eligible / not excluded")?"""
        left, right = self.clause(start, end)
        return PERMISSIVE_RE.search(self.low, left, right) is not None
