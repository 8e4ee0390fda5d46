"""The EHR settings (environment or TOML file), the handoff store, and the recorded patients
the loopback EHR serves (valid FHIR R4, checked with ``fhir.resources``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from api.ehr_settings import DEFAULT_SCOPE, EhrSettings, SettingsError
from api.handoff import MAX_VALUES, Handoffs
from cli import app as cli_app
from tests.ehr_server import SEED, load_patients, prefetch_for


def test_settings_default_to_reading_no_ehr() -> None:
    settings = EhrSettings.from_env({})
    assert settings.fhir_servers == () and settings.ehr_origins == () and settings.public_url is None
    assert (settings.cds_radius_km, settings.cds_trials, settings.handoff_ttl_s) == (100.0, 3, 300.0)
    assert settings.smart_scope == DEFAULT_SCOPE and not settings.allows_fhir_server(
        "https://ehr.example/fhir"
    )


def test_settings_from_a_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "ehr.toml"
    path.write_text(
        '[ehr]\npublic_url = "https://trials.example.org/"\nfhir_servers = ["https://EHR.example.org/fhir/R4/"]\n'
        "cds_radius_km = 50\n",
        encoding="utf-8",
    )
    settings = EhrSettings.from_env(
        {
            "TRIALSITE_EHR_SETTINGS": str(path),
            "TRIALSITE_CDS_RADIUS_KM": "75",
            "TRIALSITE_EHR_ORIGINS": "https://a.org, https://b.org",
        }
    )
    assert settings.public_url == "https://trials.example.org"
    assert settings.cds_radius_km == 75.0  # the environment wins
    assert settings.ehr_origins == ("https://a.org", "https://b.org")
    assert settings.allows_fhir_server("https://ehr.example.org/fhir/R4")
    assert settings.allows_fhir_server("https://ehr.example.org/fhir/R4/")
    for other in ("https://ehr.example.org/fhir", "https://ehr.example.org/fhir/R4/../R5", "http://ehr.example.org/fhir/R4",
                  "https://ehr.example.org.evil.net/fhir/R4", "https://ehr.example.org:99999/fhir/R4"):  # fmt: skip
        assert not settings.allows_fhir_server(other), other
    assert settings.allows_request("https://ehr.example.org/oauth2/token")
    assert not settings.allows_request("https://login.example.org/oauth2/token")


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"TRIALSITE_CDS_RADIUS_KM": "far"}, "TRIALSITE_CDS_RADIUS_KM (cds_radius_km): expected a number"),
        ({"TRIALSITE_CDS_TRIALS": "0"}, "expected at least 1"),
        ({"TRIALSITE_FHIR_SERVERS": "ftp://ehr/fhir"}, "expected http(s) URLs"),
        ({"TRIALSITE_PUBLIC_URL": "trials.example.org"}, "expected the service's http(s) base URL"),
        ({"TRIALSITE_EHR_SETTINGS": "/nonexistent/ehr.toml"}, "cannot read /nonexistent/ehr.toml"),
    ],
)
def test_a_wrong_setting_is_named(environ: dict[str, str], said: str) -> None:
    with pytest.raises(SettingsError, match=said.replace("(", r"\(").replace(")", r"\)")):
        EhrSettings.from_env(environ)


def test_a_file_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ehr.toml"
    path.write_text('[ehr]\nfhir_server = "https://ehr.example.org/fhir"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown setting 'fhir_server'"):
        EhrSettings.from_env({"TRIALSITE_EHR_SETTINGS": str(path)})


def test_serve_refuses_a_wrong_setting_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["--db", str(tmp_path / "t.db"), "serve"], env={"TRIALSITE_FHIR_TIMEOUT_S": "-1"}
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: TRIALSITE_FHIR_TIMEOUT_S (fhir_timeout_s): expected a positive number, got '-1'"
    ]


def test_a_handoff_is_taken_once_and_expires() -> None:
    now = [0.0]
    store = Handoffs(ttl_s=300, clock=lambda: now[0])
    key = store.put({"patient": {"age": 34}})
    assert len(key) == 43 and key != store.put({})
    assert store.take(key) == {"patient": {"age": 34}}
    assert store.take(key) is None
    late = store.put({"patient": {}})
    now[0] = 301
    assert store.take(late) is None
    assert len(store) == 0


def test_the_handoff_store_stays_bounded() -> None:
    store = Handoffs(ttl_s=300)
    first = store.put({})
    for _ in range(MAX_VALUES):
        store.put({})
    assert len(store) == MAX_VALUES and store.take(first) is None


def test_the_recorded_seed_patient_is_valid_fhir_r4() -> None:
    bundle = json.loads(SEED.read_text(encoding="utf-8"))
    Bundle.model_validate(bundle)
    for value in prefetch_for(load_patients(SEED)["seed-palencia"]).values():
        if value["resourceType"] == "Bundle":
            Bundle.model_validate(value)
