"""Legacy ``<clinical_study>`` XML records (the classic site, ``AllPublicXML.zip``).

- ``parser`` — one record → :class:`~db.record.NormalizedTrial` (hardened XML parsing).

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``.
"""
