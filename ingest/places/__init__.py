"""Places, offline: a site's or a patient's address → coordinates, and distances.

Ingest places sites at load time; matching places the patient with the same code.

- ``gazetteer/`` — the local GeoNames gazetteer: ``build`` (one SQLite file), ``cities``
  and ``postal`` (its two halves' sources), ``lookup`` (:class:`Gazetteer`: resolve a query).
- ``query`` — a free-text place query → candidate readings (coordinates, postal codes, names).
- ``ranking`` — choosing among places that share a name.
- ``regions``, ``names``, ``countries`` — region hints, name folding, country codes.
- ``suggestions`` — close names for a place that matched nothing.
- ``resolution`` — what resolving returns, and its errors.
- ``distance`` — great-circle distance and bounding boxes.
- ``sites`` — geocoding trial sites the registry gave no coordinates.
- ``nominatim``, ``cache`` — online geocoding (only when asked) and its cache in the store.
- ``cli`` — ``trialsite gazetteer`` and ``trialsite geocode``.

Place data: GeoNames (https://www.geonames.org), CC BY 4.0. May import ``db`` and
``ingest``'s shared modules; never ``matching`` or ``api``.
"""
