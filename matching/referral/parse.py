"""Rule-based reading of a referral letter.

Conditions come from the condition synonym groups search already uses (plus Spanish names
mapped onto them), measurements from the criteria catalogue's variable names, followed by a
number and an optional unit. Context is ConText-style: a negation or family-history trigger
earlier in the same clause (sentence part up to ``;``/``.``/``but``) discards the finding.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ingest.criteria.catalogue import load_catalogue
from matching.conditions import CONDITION_NAMES, synonym_groups


@dataclass(frozen=True, slots=True)
class Evidence:
    field: str
    text: str
    start: int
    end: int


@dataclass(slots=True)
class Parse:
    patient: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    ignored: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def spans(items: list[Evidence]) -> list[dict[str, Any]]:
            return [{"field": e.field, "text": e.text, "start": e.start, "end": e.end} for e in items]

        return {
            "patient": self.patient,
            "evidence": spans(self.evidence),
            "ignored": spans(self.ignored),
            "warnings": self.warnings,
        }


_AGE_RE = re.compile(
    r"(?i)\b(\d{1,3})[\s\-]*(?:years?|yrs?|y)[\s\-]*(?:old|o)\b"
    r"|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.|a\.)(?!\w)"
    r"|\baged?\s*:?\s*(\d{1,3})\b"
    r"|\b(\d{1,3})\s*años\b"
    r"|\bedad\s*:?\s*(\d{1,3})\b"
    r"|\b(\d{1,3})[\s\-]*(?:years?|yrs?)\s+(?=(?:man|woman|male|female|boy|girl|gentleman|lady)\b)"
    # "Mrs Garcia, 71, from Houston", "Sr. Pérez Gómez, 58,"
    r"|\b(?:mrs?|ms|miss|mx|sra?|srta|don|do[ñn]a)\.?\s+[^\W\d_][\w'’-]+(?:\s+[^\W\d_][\w'’-]+)?,\s*(\d{1,3})\b"
    r"(?!\s*(?:mg|g|ml|mmol|%|/|\.\d|,\d))"
)
# Ages of infants: "3-day-old", "5 months old", "15-week-old", "7 meses".
_INFANT_AGE_RE = re.compile(
    r"(?i)\b(\d{1,2})[\s\-]*(day|week|month|d[ií]a|semana|mes)(?:s|es)?[\s\-]*(?:old|de vida|de edad)\b"
)
_INFANT_YEARS = {"day": 1 / 365.25, "week": 7 / 365.25, "month": 1 / 12}
# "48 M", "74M", "60 yo M", "22yo F": sex as one capital letter right after the age.
_AGE_SEX_RE = re.compile(r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)?\s*([MF])\b")
_FEMALE = r"woman|female|lady|girl|mrs|ms|miss|mujer|paciente femenina|niña|señora|sra"
_MALE = r"man|male|gentleman|boy|mr|varón|varon|hombre|niño|señor|sr"
_PRONOUN_RE = re.compile(r"(?i)\b(?:(?P<m>he|his|him)|(?P<f>she|her))\b")
_SEX_RE = re.compile(rf"(?i)\b(?:(?P<f>{_FEMALE})|(?P<m>{_MALE}))\b\.?")
_PLACE_RE = re.compile(
    r"(?:\b(?:[Ff]rom|[Ll]ives in|[Ll]iving in|[Rr]esident (?:of|in)|[Rr]esidente en|[Vv]ive en|"
    r"[Nn]atural de|años,? de|[Pp]rocedente de|[Dd]omiciliad[oa] en)\s+)"
    r"(?P<place>[A-ZÁÉÍÓÚÑ][\wáéíóúñü'\-]*(?:[ \-](?:de |del |la |el )?[A-ZÁÉÍÓÚÑ][\wáéíóúñü'\-]*)*"
    r"(?:,\s*(?:[A-ZÁÉÍÓÚÑ][\wáéíóúñü'\-]*(?: [A-ZÁÉÍÓÚÑ][\wáéíóúñü'\-]*)*|[A-Z]{2})(?:\s+\d{4,5})?)*)"
)
# A clause ends at a sentence stop, a semicolon, or a contrastive conjunction.
_CLAUSE_RE = re.compile(r"[.;?¿\n]|\bbut\b|\bpero\b|\bhowever\b|\bsin embargo\b", re.I)
_NEGATION_RE = re.compile(
    r"(?i)\b(?:no|not|denies|denied|without|negative for|free of|absence of|ruled out|never|"
    r"has not|had not|hasn't|hadn't|did not|didn't|nor|sin|niega|descartad[oa]|nunca|ni)\b"
)
_NEGATED_AFTER_RE = re.compile(
    r"(?i)^\s*(?:[:=]?\s*)?(?:negative|negativ[oa]|ruled out|descartad[oa]|absent)\b"
)
_FAMILY_RE = re.compile(
    r"(?i)\b(?:mother|father|brother|sister|sibling|son|daughter|aunt|uncle|cousin|grandmother|"
    r"grandfather|family history|familial history|relatives?|madre|padre|herman[oa]s?|hij[oa]s?|"
    r"tí[oa]|abuel[oa]|antecedentes familiares|familiares?)\b"
)
_HYPOTHETICAL_RE = re.compile(
    r"(?i)\b(?:if|should|unless|risk of|may develop|in case|awaiting|candidate for|consider|considering|"
    r"planned|si|en caso de|riesgo de|pendiente de|en lista de espera|candidat[oa] a)\b"
)
# Trigger words act on the findings up to this many characters after them (ConText's scope,
# cut short by the end of the clause).
_WINDOW = 60


# Treatments: drug classes and names common in referral letters (English and Spanish forms).
_TREATMENTS: dict[str, str] = {
    w: canonical
    for canonical, words in {
        "mycophenolate": ["mycophenolate", "mycophenolate mofetil", "mmf", "micofenolato"],
        "hydroxychloroquine": ["hydroxychloroquine", "hcq", "hidroxicloroquina"],
        "prednisone": ["prednisone", "prednisona", "prednisolone", "prednisolona"],
        "methylprednisolone": ["methylprednisolone", "metilprednisolona"],
        "cyclophosphamide": ["cyclophosphamide", "ciclofosfamida"],
        "rituximab": ["rituximab"],
        "belimumab": ["belimumab"],
        "voclosporin": ["voclosporin", "voclosporina"],
        "tacrolimus": ["tacrolimus"],
        "cyclosporine": ["cyclosporine", "ciclosporina", "ciclosporin"],
        "azathioprine": ["azathioprine", "azatioprina"],
        "tolvaptan": ["tolvaptan"],
        "eculizumab": ["eculizumab"],
        "ravulizumab": ["ravulizumab"],
        "sparsentan": ["sparsentan"],
        "budesonide": ["budesonide", "budesonida"],
        "dapagliflozin": ["dapagliflozin", "dapagliflozina"],
        "empagliflozin": ["empagliflozin", "empagliflozina"],
        "SGLT2 inhibitor": ["sglt2 inhibitor", "sglt2i", "isglt2"],
        "ramipril": ["ramipril"],
        "lisinopril": ["lisinopril"],
        "enalapril": ["enalapril"],
        "losartan": ["losartan", "losartán"],
        "irbesartan": ["irbesartan", "irbesartán"],
        "ACE inhibitor": ["ace inhibitor", "acei", "ieca"],
        "ARB": ["arb", "ara ii", "ara-ii"],
        "metformin": ["metformin", "metformina"],
        "insulin": ["insulin", "insulina"],
        "semaglutide": ["semaglutide", "semaglutida"],
        "finerenone": ["finerenone", "finerenona"],
        "methotrexate": ["methotrexate", "metotrexato"],
        "adalimumab": ["adalimumab"],
        "atorvastatin": ["atorvastatin", "atorvastatina"],
        "furosemide": ["furosemide", "furosemida"],
        "hemodialysis": ["haemodialysis", "hemodialysis", "hemodiálisis", "hemodialisis", "hd"],
        "peritoneal dialysis": ["peritoneal dialysis", "diálisis peritoneal", "dialisis peritoneal"],
        "dialysis": ["dialysis", "diálisis", "dialisis"],
        "kidney transplant": [
            "kidney transplant",
            "renal transplant",
            "trasplante renal",
            "kidney transplantation",
        ],
        "chemotherapy": ["chemotherapy", "quimioterapia"],
    }.items()
    for w in words
}


def _alternation(words: list[str]) -> re.Pattern[str]:
    body = "|".join(re.escape(w).replace(r"\ ", r"[\s\-'’]+") for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{body})s?(?![\w])", re.I)


def _mesh_terms() -> list[str]:
    data = json.loads(resources.files("ingest").joinpath("data/mesh_ancestors.json").read_text())
    terms = set(data["ancestors"])
    for parents in data["ancestors"].values():
        terms.update(parents)
    return sorted(terms)


@cache
def _condition_index() -> tuple[re.Pattern[str], dict[str, str]]:
    canonical: dict[str, str] = {}
    for name, group in synonym_groups().items():
        canonical.setdefault(name, group[0])
    for written, target in CONDITION_NAMES.items():
        key = " ".join(re.findall(r"\w+", target.lower()))
        canonical[written] = synonym_groups().get(key, (target,))[0]
        canonical.setdefault(key, canonical[written])
    for term in _mesh_terms():
        natural = " ".join(reversed([part.strip() for part in term.lower().split(",")]))
        key = " ".join(re.findall(r"\w+", natural))
        canonical.setdefault(key, synonym_groups().get(key, (key,))[0])
    # Bare one- or two-letter abbreviations ("ln", "ra") are too ambiguous in a letter.
    words = [w for w in canonical if len(w) > 2]
    return _alternation(words), canonical


@cache
def _treatment_re() -> re.Pattern[str]:
    return _alternation(list(_TREATMENTS))


_NUMBER = r"(?P<value>\d+(?:[.,]\d+)?)(?:\s*/\s*(?P<second>\d+))?"
_VALUE_AFTER_RE = re.compile(
    r"(?:\s*(?:level|levels|of|was|is|at|de|fue|es|score|:|=|~|≈|\(|,)\s*)*\s*"
    + _NUMBER
    + r"(?P<unit>\s*(?:x\s*10\^?\d+/[lL]|%|[a-zA-Zµμ][\w/.,µμ^²³\d]*(?:\s*[\d.,]*\s*m[2²])?))?"
)
# Spanish (and a few English) names of catalogue variables the catalogue does not list.
_EXTRA_MEASURES: dict[str, str] = {
    "fge": "egfr",
    "tfge": "egfr",
    "filtrado glomerular": "egfr",
    "filtrado glomerular estimado": "egfr",
    "creatinina": "creatinine",
    "creatinina sérica": "creatinine",
    "cr": "creatinine",
    "cociente proteína/creatinina": "upcr",
    "cociente proteínas/creatinina": "upcr",
    "cpc": "upcr",
    "cociente albúmina/creatinina": "uacr",
    "cac": "uacr",
    "proteinuria": "proteinuria",
    "hemoglobina glicada": "hba1c",
    "hemoglobina glucosilada": "hba1c",
    "hba1c": "hba1c",
    "hemoglobina": "hemoglobin",
    "hb": "hemoglobin",
    "plaquetas": "platelets",
    "potasio": "potassium",
    "albúmina": "albumin",
    "calcio": "calcium",
    "fósforo": "phosphate",
    "ferritina": "ferritin",
    "leucocitos": "wbc",
    "linfocitos": "lymphocytes",
    "bilirrubina": "bilirubin",
    "colesterol total": "total_cholesterol",
    "triglicéridos": "triglycerides",
    "troponina": "troponin",
    "proteína c reactiva": "crp",
    "pcr": "crp",
    "vsg": "esr",
    "sodio": "sodium",
    "ácido úrico": "uric_acid",
    "peso": "weight",
    "imc": "bmi",
    "fracción de eyección": "lvef",
    "fevi": "lvef",
    "colesterol ldl": "ldl",
    "glucemia": "glucose",
}
_BP_RE = re.compile(
    r"(?i)\b(?:bp|blood pressure|ta|tensión arterial|presión arterial)\s*(?:of|was|is|de|:)?\s*"
    r"(\d{2,3})\s*/\s*(\d{2,3})(\s*mm\s*hg)?"
)
_STAGE_RE = re.compile(r"(?i)\b(?:ckd|erc)\s*(?:stage|estadio|g)?\s*(\d[ab]?)\b")
_UNIT_WORDS = frozenset({"in", "on", "and", "y", "en", "con", "with", "since", "desde", "years", "años"})


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    lo = 0
    for m in _CLAUSE_RE.finditer(text, 0, start):
        if m.group(0) == "." and _is_decimal_point(text, m.start()):
            continue
        lo = m.end()
    hi = len(text)
    for m in _CLAUSE_RE.finditer(text, end):
        if m.group(0) == "." and _is_decimal_point(text, m.start()):
            continue
        hi = m.start()
        break
    return lo, hi


def _is_decimal_point(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def _context(text: str, start: int, end: int) -> str | None:
    """Why a finding is not the patient's own current one ("negated", "family", "hypothetical")."""
    lo, hi = _clause(text, start, end)
    before = text[max(lo, start - _WINDOW) : start]
    if _FAMILY_RE.search(before) or _FAMILY_RE.search(text[end:hi][:40]):
        return "family"
    if _NEGATION_RE.search(before) or _NEGATED_AFTER_RE.match(text[end:hi]):
        return "negated"
    if _HYPOTHETICAL_RE.search(before):
        return "hypothetical"
    return None


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan", "enero"),
            ("february", "feb", "febrero"),
            ("march", "mar", "marzo"),
            ("april", "apr", "abril"),
            ("may", "mayo"),
            ("june", "jun", "junio"),
            ("july", "jul", "julio"),
            ("august", "aug", "agosto"),
            ("september", "sep", "sept", "septiembre"),
            ("october", "oct", "octubre"),
            ("november", "nov", "noviembre"),
            ("december", "dec", "diciembre"),
        ]
    )
    for m in names
}
_DATE_RE = re.compile(
    r"(?i)\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b"
    r"|\b(?P<month>"
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\.?\s+(?:de\s+|del\s+)?(?P<year>(?:19|20)\d\d)\b"
    r"|\b(?:in|en|since|desde)\s+(?P<bare>(?:19|20)\d\d)\b"
)
_EVENTS = {
    "kidney biopsy": r"biops(?:y|ies|ia)|biopsy-proven|biopsiad[oa]",
    "kidney transplant": r"(?:kidney |renal )?transplant(?:ation|ed)?|trasplante(?: renal)?",
    "diagnosis": r"diagnos(?:ed|is)|diagnosticad[oa]|diagn[oó]stico",
    "induction": r"induction|inducci[oó]n",
    "flare": r"flare|brote",
    "dialysis start": r"started (?:haemo|hemo)?dialysis|inici[oó] (?:hemo)?di[aá]lisis",
}
_STARTED_RE = re.compile(
    r"(?i)\b(?:start(?:ed|ing)|began|commenced|initiated|inici[oó]|comenz[oó]|empez[oó])\b"
)
_CONTRACEPTION_RE = re.compile(
    r"(?i)\b(?:(?P<none>no (?:uses? )?(?:effective )?contracepti(?:on|ve)s?|sin anticoncepci[oó]n|no usa anticonceptivos?)"
    r"|(?:effective |oral |hormonal )?contracepti(?:on|ves?)|(?:the )?pill|iud|intrauterine device|"
    r"anticonceptiv[oa]s?(?: orales)?|anticoncepci[oó]n|diu)\b"
)
_EVENT_RE = re.compile(
    r"(?i)\b(?:" + "|".join(f"(?P<e{i}>{p})" for i, p in enumerate(_EVENTS.values())) + r")"
)


_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "un": 1, "una": 1, "uno": 1, "dos": 2,
    "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    "once": 11, "doce": 12,
}  # fmt: skip
_COUNT = r"\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT = r"days?|weeks?|months?|years?|d[ií]as?|semanas?|mes(?:es)?|años?"
# "3 months ago", "two weeks ago", "hace 2 meses", "last year", "el mes pasado".
_RELATIVE_RE = re.compile(
    rf"(?i)\b(?:(?P<n>{_COUNT})\s+(?P<unit>{_UNIT})\s+ago|hace\s+(?P<n2>{_COUNT})\s+(?P<unit2>{_UNIT})"
    r"|last\s+(?P<unit3>week|month|year)|(?:la|el)\s+(?P<unit4>semana|mes|año)\s+pasad[oa])\b"
)
# The letter's own date, near its top: "Date: 2026-11-20", "Fecha: 20/11/2026",
# "20 November 2026", "November 20, 2026", "Valladolid, 20 de noviembre de 2026".
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_LETTER_DATE_RE = re.compile(
    r"(?i)(?:\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b"
    r"|\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>(?:19|20)\d\d)\b"
    rf"|\b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+)?(?P<month>{_MONTH_NAMES})\.?,?\s+(?:de\s+|del\s+)?(?P<y2>(?:19|20)\d\d)\b"
    rf"|\b(?P<month2>{_MONTH_NAMES})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>(?:19|20)\d\d)\b)"
)


def letter_date(text: str) -> dt.date | None:
    """The date the letter gives itself in its first lines, if any."""
    m = _LETTER_DATE_RE.search(text[:400])
    if m is None:
        return None
    try:
        if m.group("iso"):
            return dt.date.fromisoformat(m.group("iso"))
        if m.group("d"):
            return dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        if m.group("d2"):
            return dt.date(int(m.group("y2")), _MONTHS[m.group("month").lower()], int(m.group("d2")))
        return dt.date(int(m.group("y3")), _MONTHS[m.group("month2").lower()], int(m.group("d3")))
    except ValueError:
        return None


def _ago(reference: dt.date, count: int, unit: str) -> dt.date:
    unit = unit.lower()
    if unit.startswith(("d",)):
        return reference - dt.timedelta(days=count)
    if unit.startswith(("w", "s")):
        return reference - dt.timedelta(weeks=count)
    months = count * (12 if unit.startswith(("y", "a")) else 1)
    index = reference.year * 12 + reference.month - 1 - months
    year, month = divmod(index, 12)
    day = min(reference.day, 28)
    return dt.date(year, month + 1, day)


def relative_date(m: re.Match[str], reference: dt.date) -> dt.date:
    written = m.group("n") or m.group("n2")
    count = (int(written) if written.isdigit() else _NUMBER_WORDS[written.lower()]) if written else 1
    unit = m.group("unit") or m.group("unit2") or m.group("unit3") or m.group("unit4") or "day"
    return _ago(reference, count, unit)


def _date(m: re.Match[str]) -> str:
    if m.group("iso"):
        return m.group("iso")
    if m.group("month"):
        return f"{int(m.group('year')):04d}-{_MONTHS[m.group('month').lower()]:02d}-01"
    return f"{int(m.group('bare')):04d}-01-01"


def _when(text: str, start: int, stop: int, reference: dt.date) -> tuple[str, int] | None:
    """The first date written (absolute or relative) in ``text[start:stop]``: ISO, its end."""
    found: list[tuple[int, str, int]] = []
    absolute = _DATE_RE.search(text, start, stop)
    if absolute is not None:
        with suppress(ValueError):  # "2026-02-30": no date
            found.append(
                (absolute.start(), dt.date.fromisoformat(_date(absolute)).isoformat(), absolute.end())
            )
    relative = _RELATIVE_RE.search(text, start, stop)
    if relative is not None:
        found.append((relative.start(), relative_date(relative, reference).isoformat(), relative.end()))
    if not found:
        return None
    _, iso, end = min(found)
    return iso, end


def _events(text: str, out: Parse, reference: dt.date) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    names = list(_EVENTS)
    for m in _EVENT_RE.finditer(text):
        if _context(text, m.start(), m.end()):
            continue
        name = next(names[i] for i in range(len(names)) if m.group(f"e{i}"))
        _, hi = _clause(text, m.start(), m.end())
        when = _when(text, m.end(), min(hi, m.end() + 60), reference)
        if when is None:
            continue
        date, end = when
        if any(e["name"] == name for e in events):
            continue
        events.append({"name": name, "date": date})
        out.evidence.append(Evidence("events", text[m.start() : end], m.start(), end))
    return events


_SPANISH_RE = re.compile(r"(?i)\b(?:de|con|y|en|el|la|los|las|años|del|por|para)\b")
_ENGLISH_RE = re.compile(r"(?i)\b(?:the|with|and|in|of|on|for|from|years?|his|her)\b")


def _is_spanish(text: str) -> bool:
    return len(_SPANISH_RE.findall(text)) > len(_ENGLISH_RE.findall(text))


def _fold(written: str) -> str:
    return re.sub(r"\s+", " ", written.lower())


@cache
def _extra_measure_re() -> re.Pattern[str]:
    return _alternation(list(_EXTRA_MEASURES))


def _number(written: str) -> float:
    return float(written.replace(",", "."))


def _age_and_sex(text: str, out: Parse) -> None:
    patient = out.patient
    found: list[tuple[int, int, float]] = []
    for m in _AGE_RE.finditer(text):
        value = int(next(g for g in m.groups() if g is not None))
        if not _FAMILY_RE.search(text[max(0, m.start() - 30) : m.start()]) and 0 < value <= 120:
            found.append((m.start(), m.end(), float(value)))
            break
    for m in _INFANT_AGE_RE.finditer(text):
        unit = {"d": "day", "s": "week", "w": "week", "m": "month"}[m.group(2)[0].lower()]
        found.append((m.start(), m.end(), round(int(m.group(1)) * _INFANT_YEARS[unit], 4)))
        break
    short = _AGE_SEX_RE.search(text)
    if short and 0 < int(short.group(1)) <= 120:
        found.append((short.start(), short.end(), float(short.group(1))))
    if found:
        start, end, years = min(found)
        patient["age"] = years
        out.evidence.append(Evidence("age", text[start:end], start, end))
    sexes = [
        (m.start(), m.end(), "female" if m.group("f") else "male", m.group(0))
        for m in _SEX_RE.finditer(text)
        if not _FAMILY_RE.search(text[max(0, m.start() - 15) : m.start()])
    ][:1]
    pronoun = _PRONOUN_RE.search(text)
    if pronoun and not _FAMILY_RE.search(text[max(0, pronoun.start() - 15) : pronoun.start()]):
        sexes.append(
            (pronoun.start(), pronoun.end(), "male" if pronoun.group("m") else "female", pronoun.group(0))
        )
    if short:
        sexes.append(
            (short.start(2), short.end(2), "female" if short.group(2) == "F" else "male", short.group(2))
        )
    if sexes:
        start, end, sex, written = min(sexes)
        patient["sex"] = sex
        out.evidence.append(Evidence("sex", written, start, end))


_PREGNANT_RE = re.compile(r"(?i)\b(?:pregnan(?:t|cy)|embarazada|embarazo|gestante)\b")
_BREASTFEEDING_RE = re.compile(r"(?i)\b(?:breast-?feeding|lactating|lactancia|lactando)\b")


def _yes_no(text: str, out: Parse, field_name: str, pattern: re.Pattern[str]) -> None:
    """The first mention that is the patient's own: negated is false ("not pregnant", "no
    contraception"), plain is true; family or hypothetical mentions say nothing."""
    for m in pattern.finditer(text):
        why = _context(text, m.start(), m.end())
        if why not in (None, "negated"):
            continue
        said_no = why == "negated" or bool(m.groupdict().get("none"))
        out.patient[field_name] = not said_no
        start, end = m.start(), m.end()
        if why == "negated":  # the words shown hold the negation: "not pregnant", not "pregnant"
            lo, hi = _clause(text, start, end)
            cues = list(_NEGATION_RE.finditer(text, max(lo, start - _WINDOW), start))
            after = _NEGATED_AFTER_RE.match(text[end:hi])
            start = cues[-1].start() if cues else start
            end = end + after.end() if after and not cues else end
        out.evidence.append(Evidence(field_name, text[start:end], start, end))
        return


def parse_referral(text: str, *, today: dt.date | None = None) -> Parse:
    """Read one letter; the patient dict validates against ``trialsite match --schema``."""
    out = Parse()
    patient = out.patient
    # Relative dates ("3 months ago", "hace 2 meses") count back from the letter's own date.
    reference = letter_date(text) or (today or dt.date.today())

    _age_and_sex(text, out)

    m_place = _PLACE_RE.search(text)
    if m_place:
        place = m_place.group("place").strip(" ,")
        patient["location"] = place
        out.evidence.append(
            Evidence("location", place, m_place.start("place"), m_place.start("place") + len(place))
        )
    else:
        out.warnings.append("location: no place found (give --near PLACE)")

    pattern, canonical = _condition_index()
    conditions: list[str] = []
    for m in pattern.finditer(text):
        key = " ".join(re.findall(r"\w+", m.group(0).lower()))
        name = canonical.get(key) or canonical.get(m.group(0).lower()) or canonical.get(key.rstrip("s"))
        if name is None:
            continue
        why = _context(text, m.start(), m.end())
        if why:
            out.ignored.append(Evidence(f"conditions ({why})", m.group(0), m.start(), m.end()))
            continue
        if name not in conditions:
            conditions.append(name)
        out.evidence.append(Evidence("conditions", m.group(0), m.start(), m.end()))
    for m in _STAGE_RE.finditer(text):
        if "chronic kidney disease" not in conditions and not _context(text, m.start(), m.end()):
            conditions.append("chronic kidney disease")
            out.evidence.append(Evidence("conditions", m.group(0), m.start(), m.end()))
    if conditions:
        patient["conditions"] = conditions

    catalogue = load_catalogue()
    measurements: list[dict[str, Any]] = []
    spanish = _is_spanish(text)
    mentions: list[tuple[int, int, str]] = []
    for m in _extra_measure_re().finditer(text):
        key = _fold(m.group(0))
        measure = _EXTRA_MEASURES.get(key) or _EXTRA_MEASURES.get(key[:-1])
        if key == "pcr" and not spanish:
            continue
        if measure:
            mentions.append((m.start(), m.end(), measure))
    taken = [(a, b) for a, b, _ in mentions]
    for c in catalogue.find(text):
        if not any(a < c.end and c.start < b for a, b in taken):
            mentions.append((c.start, c.end, c.name))
    mentions.sort()
    for start, end, name in mentions:
        variable = catalogue[name]
        if variable.name == "age":
            continue
        after = _VALUE_AFTER_RE.match(text, end)
        if after is None:
            continue
        value = _number(after.group("value"))
        unit = re.sub(r"(?<=\d),(?=\d)", ".", (after.group("unit") or "").strip().rstrip(".,")) or None
        if unit and unit.lower() in _UNIT_WORDS:
            unit = None
        label = variable.display if catalogue.lookup(variable.display) is variable else variable.name
        item: dict[str, Any] = {"name": label, "value": value}
        if unit:
            item["unit"] = unit
        measurements.append(item)
        out.evidence.append(Evidence("measurements", text[start : after.end()], start, after.end()))
    for m in _BP_RE.finditer(text):
        unit = "mmHg"
        measurements.append({"name": "SBP", "value": float(m.group(1)), "unit": unit})
        measurements.append({"name": "DBP", "value": float(m.group(2)), "unit": unit})
        out.evidence.append(Evidence("measurements", m.group(0), m.start(), m.end()))
    if measurements:
        patient["measurements"] = measurements

    treatments: list[dict[str, Any]] = []
    for m in _treatment_re().finditer(text):
        name = _TREATMENTS.get(m.group(0).lower()) or _TREATMENTS.get(m.group(0).lower()[:-1])
        if name is None:
            continue
        if name == "hemodialysis" and m.group(0) == "hd":
            continue
        why = _context(text, m.start(), m.end())
        if why:
            out.ignored.append(Evidence(f"treatments ({why})", m.group(0), m.start(), m.end()))
            continue
        if all(t["name"] != name for t in treatments):
            treatment: dict[str, Any] = {"name": name}
            # "started tacrolimus two weeks ago", "inició micofenolato hace 3 semanas"
            lo, hi = _clause(text, m.start(), m.end())
            started = _STARTED_RE.search(text, max(lo, m.start() - 30), m.start())
            when = _when(text, m.end(), min(hi, m.end() + 50), reference) if started else None
            if when is not None:
                treatment["start"] = when[0]
            treatments.append(treatment)
        out.evidence.append(Evidence("treatments", m.group(0), m.start(), m.end()))
    if treatments:
        patient["treatments"] = treatments

    events = _events(text, out, reference)
    if events:
        patient["events"] = events

    _yes_no(text, out, "pregnant", _PREGNANT_RE)
    _yes_no(text, out, "contraception", _CONTRACEPTION_RE)
    _yes_no(text, out, "breastfeeding", _BREASTFEEDING_RE)

    if "age" not in patient:
        out.warnings.append("age: not found (give --age)")
    if "sex" not in patient:
        out.warnings.append("sex: not found (give --sex)")
    return out
