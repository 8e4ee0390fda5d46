"""Referral letters (English, Spanish) → a match patient profile with the words each fact came from.

Pure: text in, a :class:`Parse` out; nothing of the letter is stored or logged.
"""

from matching.referral.parse import Evidence, Parse, parse_referral

MAX_LETTER_CHARS = 200_000  # a referral letter is a few pages

__all__ = ["MAX_LETTER_CHARS", "Evidence", "Parse", "parse_referral"]
