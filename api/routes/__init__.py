"""The service's routers: ``v1`` (JSON API), ``fhir`` (FHIR R4), ``pages`` (web pages)."""
