"""The ClinicalTrials.gov API v2: fetching studies and parsing them.

- ``client`` — :class:`RegistryClient`: cursor paging, pacing, retries (``fetch_studies``).
- ``query`` — :class:`RegistryQuery`: ``ingest ctgov`` options as ``/studies`` parameters.
- ``retry`` — the one retry-or-fatal decision and request pacing.
- ``parser`` — one API v2 ``Study`` object → :class:`~db.record.NormalizedTrial`.

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``.
"""
