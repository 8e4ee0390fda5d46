"""Referral letters (English, Spanish) → a match patient profile with the words each fact came from.

Pure: text in, a :class:`Parse` out; nothing of the letter is stored or logged.
"""

from matching.referral.parse import Evidence, Parse, parse_referral

__all__ = ["Evidence", "Parse", "parse_referral"]
