"""Words as the vocabulary compares them: folded tokens with their place in the text.

A clinician writes "Crohn's disease", "haemodialysis", "Kidneys" or "nefritis lúpica";
MeSH lists "Crohn Disease", "Hemodialysis", "Kidney" and the registry "Nefritis
Lupica". Both sides go through :func:`fold_token`, so a term and a text meet on
the same tokens: lower case, accents removed, British spellings made American,
a plural made singular, a possessive "'s" dropped. Folding only has to be *the
same* on both sides, not linguistically right ("diabetes" folds to "diabete" in
the vocabulary and in every text alike); the only risk is two different words
folding together, which the rules below avoid for clinical words.

:func:`tokens` keeps each token's span in the original text, so a concept found
on folded tokens points back at the words the writer used (the evidence).
"""

from __future__ import annotations

import re
import unicodedata
from itertools import accumulate, compress
from typing import NamedTuple

# Letters and digits of any script; "-", "/", "'" and punctuation separate tokens, and a
# number written onto its scale's word: "Type2" is "Type 2", "stage3b" is "stage 3b".
_TOKEN = r"(?i:type|stage|grade|class)(?=\d)|[^\W_]+"
_TOKEN_RE = re.compile(_TOKEN)
_APOSTROPHES = frozenset("'’`´")

# British → American spellings, as stems (haemoglobin, anaemia, oedema, oesophagus,
# paediatric, leukaemia, ischaemia, coeliac, diarrhoea, dyspnoea, tumour, behaviour).
# Only inside words of six letters or more, so "does" or "four" stay as they are.
_DIGRAPHS = (("ae", "e"), ("oe", "e"))
_OUR_RE = re.compile(r"our(?=s?$)")
# Plural endings folded to the singular (sizes checked by :func:`_singular`).
_KEEP_S = ("ss", "us", "is", "as")


class Token(NamedTuple):
    """One folded token and where its words are in the original text."""

    folded: str
    start: int
    end: int


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _american(word: str) -> str:
    if len(word) < 6 or not word.isascii():
        return word
    for british, american in _DIGRAPHS:
        if british in word:
            word = word.replace(british, american)
    if "our" in word:
        word = _OUR_RE.sub("or", word)
    return word


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_KEEP_S) or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1]


def fold_token(word: str) -> str:
    """One token as the vocabulary compares it: "Haemoglobins" → "hemoglobin", "UTIs" → "uti"."""
    return _FOLDED[word]


def _fold_token(word: str) -> str:
    if len(word) > 2 and word[-1] == "s" and word[:-1].isupper():
        return word[:-1].lower()  # an abbreviation's plural: "UTIs", "NSAIDs"
    return _singular(_american(_strip_accents(word.casefold())))


class _FoldedTokens(dict[str, str]):
    """Token → folded token, filled as tokens are met: a dict's own lookup, mapped over a text's
    tokens in C, costs half an ``lru_cache`` call. Emptied when it reaches ``MAX`` tokens."""

    MAX = 200_000

    def __missing__(self, word: str) -> str:
        if len(self) >= self.MAX:
            self.clear()
        folded = self[word] = _fold_token(word)
        return folded


_FOLDED = _FoldedTokens()


class TokenColumns(NamedTuple):
    """The folded tokens of a text as columns: ``folded[i]`` spans ``text[starts[i]:ends[i]]``."""

    folded: list[str]
    starts: list[int]
    ends: list[int]


def token_columns(text: str) -> TokenColumns:
    """:func:`tokens` as columns, built without a Python loop over the tokens (the recognizer
    reads every criterion item of every trial: a third of its time went to that loop)."""
    # Most texts write no scale word ("type", "stage", …): there a token is a plain run of
    # letters and digits, which ``re`` splits a third faster. A non-ASCII text takes the full
    # pattern (``re`` folds some letters, like "ſ", that ``lower`` keeps).
    if text.isascii() and not contains_scale_word(text.lower()):
        parts = _WORD_SPLIT_RE.split(text)
    else:
        parts = _TOKEN_SPLIT_RE.split(text)  # separator, token, separator, …, separator
    offsets = list(accumulate(map(len, parts), initial=0))
    words, starts, ends = parts[1::2], offsets[1:-1:2], offsets[2::2]
    if ("s" in words or "S" in words) and any(a in text for a in _APOSTROPHES):
        # a possessive "'s" is no token ("Crohn's disease")
        kept = [
            not (w in ("s", "S") and at > 0 and text[at - 1] in _APOSTROPHES)
            for w, at in zip(words, starts, strict=True)
        ]
        words = list(compress(words, kept))
        starts, ends = list(compress(starts, kept)), list(compress(ends, kept))
    return TokenColumns(list(map(_FOLDED.__getitem__, words)), starts, ends)


def tokens(text: str) -> list[Token]:
    """The folded tokens of ``text`` with their spans; a possessive "'s" is dropped."""
    out: list[Token] = []
    for match in _TOKEN_RE.finditer(text):
        start, end = match.span()
        word = match.group()
        if word in ("s", "S") and start > 0 and text[start - 1] in _APOSTROPHES:
            continue
        out.append(Token(_FOLDED[word], start, end))
    return out


_TOKEN_SPLIT_RE = re.compile(f"({_TOKEN})")
_WORD_SPLIT_RE = re.compile(r"([^\W_]+)")
_SCALE_WORDS = ("type", "stage", "grade", "class")


def contains_scale_word(low: str) -> bool:
    """Could a scale's word be written onto its number ("Type2") in this lower-cased text?"""
    for word in _SCALE_WORDS:  # noqa: SIM110 (a plain loop: this runs for every text read)
        if word in low:
            return True
    return False


def fold(text: str) -> str:
    """The folded tokens of ``text`` joined by single spaces: the vocabulary's key form."""
    return " ".join(t.folded for t in tokens(text))
