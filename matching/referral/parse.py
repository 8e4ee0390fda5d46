"""Rule-based reading of a referral letter or case note into a patient profile.

The steps, each in its own module: age, sex and place (``demographics``); conditions,
denials, family history, treatments and pregnancy through the clinical vocabulary and
ConText (``findings``); measurements from the criteria catalogue (``measurements``);
dates and dated events (``dates``). Every fact keeps the words it came from.
"""

from __future__ import annotations

import datetime as dt

from ingest.vocabulary.normalize import tokens
from ingest.vocabulary.recognizer import is_spanish
from matching.referral.dates import letter_date, read_events
from matching.referral.demographics import read_age, read_place, read_sex
from matching.referral.findings import read_findings, read_pregnancy, read_yes_no
from matching.referral.measurements import read_measurements
from matching.referral.model import Evidence, Parse

__all__ = ["Evidence", "Parse", "parse_referral"]


def parse_referral(text: str, *, today: dt.date | None = None) -> Parse:
    """Read one letter; the patient dict validates against ``trialsite match --schema``."""
    out = Parse()
    # Relative dates ("3 months ago", "hace 2 meses") count back from the letter's own date.
    reference = letter_date(text) or (today or dt.date.today())
    read_age(text, out, reference)
    read_sex(text, out)
    read_place(text, out)
    findings = read_findings(text, out, reference)
    read_measurements(text, out, is_spanish([t.folded for t in tokens(text)]), [f.mention for f in findings])
    events = read_events(text, out, reference)
    if events:
        out.patient["events"] = events
    read_pregnancy(text, out)
    read_yes_no(text, out, "contraception")
    read_yes_no(text, out, "breastfeeding")
    if "age" not in out.patient:
        out.warnings.append("age: not found (give --age)")
    if "sex" not in out.patient:
        out.warnings.append("sex: not found (give --sex)")
    return out
