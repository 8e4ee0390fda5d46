"""Folding of place names and postal codes into lookup keys.

One folding is used everywhere a place name is compared — when the gazetteer is
built and when a query or a registry site is resolved — so "Río Hortega",
"RIO HORTEGA" and "Rio-Hortega" all meet on ``"rio hortega"``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

# Letters that NFKD does not decompose into a base letter plus a combining mark.
_LETTERS: dict[int, str] = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "ı": "i",
        "þ": "th",
        "ħ": "h",
        "ŀ": "l",
    }
)
# Combining marks (accents) are deleted after NFKD decomposition; apostrophes vanish
# ("K'oln" = "Koln"); other punctuation separates words.
_DROP: dict[int, str | None] = {cp: None for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))}
_DROP.update(dict.fromkeys(map(ord, "'’‘`´ʻʼ")))
_DROP.update(_LETTERS)
_SEPARATORS = re.compile(r"[\W_]+")
_POSTAL_JUNK = re.compile(r"[^0-9A-Z]")
_CEDEX = re.compile(r"\s*CEDEX\s*\d*$")
_PREFIXED = re.compile(r"([A-Z]{1,2})-\s?\d{3,6}$")
_POSTAL_PREFIXES: dict[str, str] = json.loads(
    resources.files("ingest.places").joinpath("data/place_words.json").read_text()
)["postal_prefixes"]


def fold_text(text: str) -> str:
    """Lower-case, strip accents, drop apostrophes, turn punctuation into single spaces."""
    text = text.casefold()
    if text.isascii():
        if text.isalpha():
            return text
        text = text.replace("'", "").replace("`", "")
    else:
        text = unicodedata.normalize("NFKD", text).translate(_DROP)
    return _SEPARATORS.sub(" ", text).strip()


fold = lru_cache(maxsize=65536)(fold_text)
fold.__doc__ = "Cached :func:`fold_text`, for queries and registry sites (which repeat)."


def postal_key(code: str) -> str:
    """``"02115-5727"`` → ``"021155727"``; ``"97305 CEDEX"`` → ``"97305"``; ``"sw1a 1aa"`` → ``"SW1A1AA"``."""
    if code.isalnum():
        return code.upper()
    code = _CEDEX.sub("", code.strip().upper())
    return _POSTAL_JUNK.sub("", code)


def postal_variants(code: str) -> list[str]:
    """Keys to try for a postal code as people and registries write it, most specific first.

    The GeoNames postal file keys some countries by an outward or short code
    (Canada "M5G", UK "SW1A", Netherlands "1234") while sites give the full code
    ("M5G 2C4", "SW1A 1AA", "1234 AB"), and US sites give ZIP+4. Argentina's
    CPA "B1832BQS" embeds the 4-digit code GeoNames uses.
    """
    full = postal_key(code)
    variants = [full]
    head = re.split(r"[\s\-]+", code.strip().upper(), maxsplit=1)[0]
    head_key = postal_key(head)
    if head_key not in variants and any(ch.isdigit() for ch in head_key):
        variants.append(head_key)
    # Country prefixes such as "L-4972" (LU), "LV-5101", "MD-6501", "AZ 0111".
    prefixed = re.fullmatch(r"([A-Z]{1,2})(\d{3,})", full)
    if prefixed and prefixed.group(2) not in variants:
        variants.append(prefixed.group(2))
    cpa = re.fullmatch(r"[A-Z](\d{4})[A-Z]{3}", full)
    if cpa and cpa.group(1) not in variants:
        variants.append(cpa.group(1))
    if len(full) == 6 and re.fullmatch(r"[A-Z]\d[A-Z]\d[A-Z]\d", full) and full[:3] not in variants:
        variants.append(full[:3])  # Canadian FSA
    return [v for v in variants if v]


def looks_like_postal(text: str) -> bool:
    """Could be a postal code: has a digit, and every word has a digit or is at most 3 letters.

    "SW1A 1AA", "1234 AB", "L-4972" and "02115" could; "47003 Spain" and "Route 66" could not.
    """
    words = text.replace("-", " ").split()
    if not words or len(words) > 2 or not any(ch.isdigit() for ch in text):
        return False
    return all(any(ch.isdigit() for ch in w) or len(w) <= 3 for w in words)


def postal_prefix_country(code: str) -> str | None:
    """The country a letter prefix names in international style: "D-80331" → "DE", "L-1009" → "LU"."""
    match = _PREFIXED.match(code.strip().upper())
    return _POSTAL_PREFIXES.get(match.group(1)) if match else None
