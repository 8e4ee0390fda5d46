"""Sources → normalized trial records → the store: ``fetch_*`` does I/O, ``parse_*`` is pure.

Ingest normalizes everything at load time, so matching only reads: sites are placed on
the map (:mod:`ingest.places`) and each criterion item's rules and needs are computed
(:mod:`ingest.criteria`). May import ``db``; never ``matching`` or ``api``.

- ``ctgov/`` — the registry's API v2: client, query, retry policy, the study parser.
- ``files/`` — saved records: study JSON, website exports, bulk zips, folders.
- ``legacy_xml/`` — the classic ``<clinical_study>`` XML records.
- ``pages/`` — trial pages (HTML or text) sourced from the registry.
- ``criteria/`` — eligibility text → items → rules, and what each item needs.
- ``places/`` — offline gazetteer, place queries, countries, distances, site geocoding.
- At the top, shared by every source: ``pipeline`` (batches, quarantine, run log),
  ``sources`` (which parser reads an item), ``refuse`` (what is not a trial record),
  ``record``, ``values``, ``vocabulary``, ``mesh``, ``reparse``; ``cli`` is the command module.
"""
