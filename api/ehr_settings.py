"""Settings of the EHR integrations (CDS Hooks, SMART launch): the environment, or a file.

Each setting is an environment variable; ``TRIALSITE_EHR_SETTINGS`` may name a TOML file
whose ``[ehr]`` table gives the same settings by their short names (the environment wins):

=============================  ====================  ===========================================
variable                       file key              meaning
=============================  ====================  ===========================================
TRIALSITE_PUBLIC_URL           public_url            the service's public base URL, for links in
                                                     cards and the SMART redirect URI (default:
                                                     the request's own, whose Host is checked)
TRIALSITE_CDS_RADIUS_KM        cds_radius_km         how far a card looks for an open site (100)
TRIALSITE_CDS_TRIALS           cds_trials            trials a card details at most (3)
TRIALSITE_FHIR_SERVERS         fhir_servers          FHIR base URLs the service may read (a hook's
                                                     ``fhirServer``, a launch's ``iss``); none by
                                                     default: every other is refused (400)
TRIALSITE_EHR_ORIGINS          ehr_origins           browser origins allowed to call the CDS
                                                     services (CORS); none by default
TRIALSITE_SMART_CLIENT_ID      smart_client_id       the client id registered with the EHR
                                                     ("trialsite")
TRIALSITE_SMART_SCOPE          smart_scope           scopes asked at a launch
TRIALSITE_FHIR_TIMEOUT_S       fhir_timeout_s        seconds for all reads of one record (5)
TRIALSITE_FHIR_MAX_BYTES       fhir_max_bytes        largest answer read from a FHIR server (2 MB)
TRIALSITE_HANDOFF_TTL_S        handoff_ttl_s         seconds a card's link stays usable (300)
=============================  ====================  ===========================================

Lists are comma-separated in the environment, arrays in the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_FILE = "TRIALSITE_EHR_SETTINGS"
# fhirclient adds "launch" to an EHR launch's scopes.
DEFAULT_SCOPE = (
    "patient/Patient.read patient/Condition.read patient/Observation.read patient/MedicationRequest.read"
)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class EhrSettings:
    public_url: str | None = None
    cds_radius_km: float = 100.0
    cds_trials: int = 3
    fhir_servers: tuple[str, ...] = ()
    ehr_origins: tuple[str, ...] = ()
    smart_client_id: str = "trialsite"
    smart_scope: str = DEFAULT_SCOPE
    fhir_timeout_s: float = 5.0
    fhir_max_bytes: int = 2_000_000
    handoff_ttl_s: float = 300.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> EhrSettings:
        env = dict(os.environ if environ is None else environ)
        given: dict[str, Any] = {}
        path = env.get(ENV_FILE)
        if path:
            given.update(_from_file(Path(path)))
        for name in FIELDS:
            value = env.get(f"TRIALSITE_{name.upper()}")
            if value is not None and value.strip():
                given[name] = value
        return cls(**{name: _parse(name, value) for name, value in given.items()})

    def allows_fhir_server(self, url: str) -> bool:
        """Whether ``url`` is one of the FHIR servers the service may read (exact base URL)."""
        try:
            return base_url(url) in {base_url(s) for s in self.fhir_servers}
        except ValueError:  # a port that is no number
            return False

    def allows_request(self, url: str) -> bool:
        """Whether the service may send a request to ``url``: under an allowed FHIR server, or
        on its host (a SMART authorization server's token endpoint is often beside it)."""
        try:
            target = urlsplit(url)
            origin = (target.scheme, target.hostname, target.port)
            return target.scheme in ("http", "https") and any(
                origin == (s.scheme, s.hostname, s.port) for s in map(urlsplit, self.fhir_servers)
            )
        except ValueError:
            return False


FIELDS = (
    "public_url",
    "cds_radius_km",
    "cds_trials",
    "fhir_servers",
    "ehr_origins",
    "smart_client_id",
    "smart_scope",
    "fhir_timeout_s",
    "fhir_max_bytes",
    "handoff_ttl_s",
)


def base_url(url: str) -> str:
    """A URL as compared with the allowed ones: scheme and host in lower case, no trailing
    slash, no query, fragment or user info."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def _from_file(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{ENV_FILE}: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{ENV_FILE}: {path} is not TOML: {exc}") from None
    table = document.get("ehr", {})
    if not isinstance(table, dict):
        raise SettingsError(f"{ENV_FILE}: {path}: [ehr] must be a table")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise SettingsError(f"{ENV_FILE}: {path}: unknown setting {unknown[0]!r}; known: {', '.join(FIELDS)}")
    return dict(table)


def _parse(name: str, value: Any) -> Any:
    where = f"TRIALSITE_{name.upper()} ({name})"
    if name in ("fhir_servers", "ehr_origins"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{where}: expected a list of URLs")
        urls = tuple(i.strip().rstrip("/") for i in items if i.strip())
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsError(f"{where}: expected http(s) URLs, got {url!r}")
        return urls
    if name == "public_url":
        url = str(value).strip().rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise SettingsError(f"{where}: expected the service's http(s) base URL, got {url!r}")
        return url
    if name in ("cds_radius_km", "fhir_timeout_s", "handoff_ttl_s"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a number, got {value!r}") from None
        if not 0 < number <= 20000:
            raise SettingsError(f"{where}: expected a positive number, got {value!r}")
        return number
    if name in ("cds_trials", "fhir_max_bytes"):
        try:
            whole = int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a whole number, got {value!r}") from None
        if whole < 1:
            raise SettingsError(f"{where}: expected at least 1, got {value!r}")
        return whole
    text = str(value).strip()
    if not text:
        raise SettingsError(f"{where}: expected a value")
    return text
