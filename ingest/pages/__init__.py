"""Trial pages sourced from ClinicalTrials.gov (HTML or their text rendering).

- ``text``, ``html`` — each form → the section model (``model``: a title, named sections).
- ``parser`` — the section model → :class:`~db.record.NormalizedTrial`.
- ``sites`` — the "Locations" section → sites with their contacts.
- ``identity`` — a stable id for a page without an NCT id, and its merge into a registry record.
- ``load`` — ``trialsite ingest page``'s I/O: fetch by path or URL, resolve, store.

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``.
"""
