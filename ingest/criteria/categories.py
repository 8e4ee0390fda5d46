"""What kind of statement a criterion item is: clinical, administrative or empty.

Administrative items (consent, compliance, language, visits, the investigator's judgement)
are about the study's conduct, not the patient's health: ``match`` shows them apart
("confirm at screening") and ``show`` marks them so. Empty items ("-", "None") state
nothing. Pure text rules; no DB.
"""

from __future__ import annotations

import re
from typing import Any

# Items about the study's conduct, not the patient's health: shown apart ("confirm at
# screening"), never counted among the clinical criteria still to check.
_ADMINISTRATIVE_RE = re.compile(
    r"(?i)\b(?:informed\s+consent|consent\s+form|sign(?:ed|s|ing)?\s+(?:the\s+|an?\s+)?(?:written\s+)?consent|"
    r"willing(?:ness)?\s+(?:and\s+able\s+)?to|able\s+(?:and\s+willing\s+)?to\s+(?:comply|understand|read|"
    r"follow|attend|complete|give|provide|communicate)|comply\s+with|compliance\s+with|agree(?:s|d)?\s+to|"
    r"(?:study|protocol)\s+(?:procedures|visits|requirements|schedule)|follow[- ]up\s+visits|"
    r"understand(?:ing)?\s+(?:the\s+)?(?:study|protocol|language)|"
    r"(?:read|speak|understand)\s+(?:and\s+(?:write|speak|understand)\s+)?(?:english|spanish|french|german|"
    r"the\s+local\s+language)|available\s+for\s+the\s+duration|reside\s+within|"
    r"(?:participat(?:ion|ing)|enrol(?:l?ed|ment))\s+in\s+(?:another|other|any\s+other)\s+(?:clinical\s+)?"
    r"(?:trial|study|studies)|investigator'?s?\s+(?:opinion|judg(?:e)?ment|discretion)|"
    r"(?:investigator|physician)s?\b[^.;]{0,40}\b(?:considers?|considered|judges?|deems?|opinion|discretion)|"
    r"further\s+(?:inclusion|exclusion)\s+criteria|social\s+security|health\s+insurance)"
)
# Items that state nothing ("-", "None", "N/A"): not criteria at all.
_EMPTY_RE = re.compile(r"(?i)^[\W_]*(?:none|n/?a|not\s+applicable|nil)?[\W_]*$")


CATEGORY_REASONS = {"administrative": "confirm at screening", "empty": "states no criterion"}


def category_of(text: str, rules: list[dict[str, Any]]) -> str:
    """``clinical``; ``administrative`` for an item with no clinical rule about consent,
    compliance, language, visits or the investigator's judgement; ``empty`` for an item
    that states nothing ("-", "None")."""
    if rules:
        return "clinical"
    if _EMPTY_RE.match(text):
        return "empty"
    return "administrative" if _ADMINISTRATIVE_RE.search(text) else "clinical"
