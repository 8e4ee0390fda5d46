"""A patient's measurement units, checked against the criteria catalogue before matching.

A measurement of a catalogued variable without a unit takes the one unit that makes its
value plausible ("eGFR 45" is 45 mL/min/1.73 m²), and says so; a value several units could explain
(creatinine 97: µmol/L or mg/L) keeps no unit, so the rules on it stay to check, and the
note lists the units to choose from. A unit the variable does not know ("eGFR=45 bananas") is refused naming the
measurement and the units it accepts. Names the catalogue does not know are left as given.
"""

from __future__ import annotations

from ingest.criteria.catalogue import Variable, clinical_unit, load_catalogue
from matching.patient import Patient, PatientError


def accepted_units(variable: Variable) -> list[str]:
    return list(
        dict.fromkeys([clinical_unit(variable.unit), *(clinical_unit(u) for u in variable.conversions)])
    )


def _plausible_units(variable: Variable, value: float) -> list[tuple[str, float]]:
    """(unit, value in the canonical unit) for each unit that puts the value in range."""
    found = []
    for unit in dict.fromkeys([variable.unit, *variable.conversions]):
        canonical = variable.convert(value, unit)
        if canonical is not None and variable.plausible(canonical):
            found.append((unit, canonical))
    return found


def resolve_units(patient: Patient, *, source: str = "patient", strict: bool = True) -> list[str]:
    """Fill in or refuse the units of ``patient``'s measurements, in place; returns notes
    on what was read ("eGFR 45: no unit given, read as mL/min/1.73 m²"). ``strict=False``
    (a referral letter, read for review): an unknown unit is a note, not an error."""
    catalogue = load_catalogue()
    notes: list[str] = []
    for i, measurement in enumerate(patient.measurements):
        variable = catalogue.lookup(measurement.name)
        if variable is None:
            continue
        where = f"measurements[{i}]"
        unit = (measurement.unit or "").strip()
        if unit:
            if not variable.accepts(unit) and not strict:
                notes.append(
                    f"{measurement.name} in {unit!r}: not a unit trialsite knows for {variable.display}, "
                    f"so the rules on it stay to check; give one of: {', '.join(accepted_units(variable))}"
                )
            elif not variable.accepts(unit):
                raise PatientError(
                    f"{source}: field {where}.unit: {measurement.name} in {unit!r} is not a unit trialsite "
                    f"knows for {variable.display}; give one of: {', '.join(accepted_units(variable))}",
                    f"{where}.unit",
                )
            continue
        if variable.convert(measurement.value, None) is not None:
            continue  # a unit-less scale (a score, a ratio)
        plausible = _plausible_units(variable, measurement.value)
        values = {round(canonical, 6) for _, canonical in plausible}
        if len(values) != 1:
            why = "no unit makes it plausible" if not plausible else "several units could explain it"
            notes.append(
                f"{measurement.name} {measurement.value:g}: no unit given and {why}, so the rules on it "
                f"stay to check; give one of: {', '.join(accepted_units(variable))}"
            )
            continue
        chosen = plausible[0][0]
        measurement.unit = clinical_unit(chosen)
        notes.append(
            f"{measurement.name} {measurement.value:g}: no unit given, read as {clinical_unit(chosen)}"
        )
    return notes
