"""Geocoding, condition search, eligibility evaluation and ranking."""
