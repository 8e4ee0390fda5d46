"""A referred patient or an advocate's query → trials with an open site near them, explained.

Reads what ingest normalized (sites' coordinates, criteria rules and needs); places the
patient with :mod:`ingest.places`. May import ``db`` and ``ingest``; never ``api``.

- ``patient`` — the patient as a clinician describes her (validated, never stored).
- ``conditions`` — condition words → full-text alternatives (synonyms, abbreviations).
- ``candidates`` — candidate trials and sites from SQL (full text, status, bounding box).
- ``eligibility``, ``verdicts`` — rules against a patient's facts: met / not met / unknown.
- ``needs`` — a patient's facts against items' stored needs (the exact top-k bound).
- ``match``, ``search`` — ranking and outcomes; ``explain`` — the lines a user reads.
- ``cli`` — ``trialsite match`` and ``trialsite search``.
"""
