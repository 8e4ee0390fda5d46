"""Age, sex and where the patient lives, as a letter or a case note says them.

Ages: "34-year-old", "62F", "aged 39", "Mrs Garcia, 71,", "Edad: 58", "Mujer de 62 años", and
for children "6-month-old" (0.5 years), "3-week-old", "lactante de 8 meses". An age in the
past ("an ectopic pregnancy at age 26", "a los 12 años", "since the age of 30") is not hers
now; a relative's age ("her mother, 70,") neither.
"""

from __future__ import annotations

import datetime as dt
import re

from matching.referral.model import Evidence, Parse

_FAMILY_RE = re.compile(
    r"(?i)\b(?:mother|father|brother|sister|sibling|son|daughter|aunt|uncle|cousin|grandmother|"
    r"grandfather|husband|wife|partner|madre|padre|herman[oa]|hij[oa]|t[ií][oa]|abuel[oa]|marido|esposo|esposa)s?\b"
)
_AGE_RE = re.compile(
    r"(?i)(?<![\d.,/])\b(\d{1,2}\.\d|\d{1,3})[\s\-]*(?:years?|yrs?|y)[\s\-]*(?:old|o)\b"
    r"|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.|a\.)(?!\w)"
    r"|(?<!\bat )(?<!\bthe )(?<!\bsince )\baged?\s*:?\s*(\d{1,3})\b(?!\s*(?:months?|weeks?|days?))"
    r"|(?<!\blos )\b(\d{1,3})\s*años\b(?!\s+(?:de evoluci[oó]n|antes|atr[aá]s))"
    r"|\bedad\s*:?\s*(\d{1,3})\b"
    r"|\b(\d{1,3})[\s\-]*(?:years?|yrs?)\s+(?=(?:man|woman|male|female|boy|girl|gentleman|lady)\b)"
    r"|\b(\d{1,3})[\s\-]*(?:years?|yrs?)[\s\-]+of[\s\-]+age\b"  # "45 years of age"
    r"|\b(\d{1,3})[\s\-]*(?:y|yr)\b(?=\s*(?:,|/|old|male|female|man|woman|[MF]\b))"  # "52y, male", "52y/o"
    # "a man of 52 with diabetes", not "a woman of 70 kg"
    r"|\b(?:man|woman|gentleman|lady|patient)\s+of\s+(\d{1,3})\b(?!\s*(?:kg|cm|lb|mg|%|/|years?\s+ago|[.,]\d))"
    # "He is 45.", "Pt is 45, female."
    r"|\b(?:he|she|patient|pt)\s+is\s+(\d{1,3})\b(?=\s*(?:[.,;)]|$|years|yrs))"
    # "45 years, male", "male, 45 years"
    r"|\b(\d{1,3})\s*(?:years?|yrs?)\b(?=\s*,\s*(?:male|female|man|woman|[MF])\b)"
    r"|\b(?:male|female|man|woman|varón|mujer)\s*,\s*(\d{1,3})\s*(?:years?|yrs?|y|años|a\.)(?!\w)"
    # "varón 45a", "Paciente varón de 70a", "45 a, mujer", "45yrs, CKD", "the patient, 45,"
    r"|\b(?:var[oó]n|mujer|hombre|paciente|de)\s+(\d{1,3})\s*a\b(?![\w.])"
    r"|\b(\d{1,3})\s*a\s*,\s*(?=(?:var[oó]n|mujer|hombre|[VM])\b)"
    r"|\b(\d{1,3})\s*yrs?\b(?=\s*[,;)])"
    r"|\b(?:the\s+patient|patient|pt)\s*,\s*(\d{1,3})\s*,"
    # "Patient: John Doe, 63, male."
    r"|,\s*(\d{1,3})\s*,\s*(?=(?:male|female|man|woman|[MF])\b)"
    # "Mrs Garcia, 71, from Houston", "Mr Seamus Dunleavy (88)", not "Mr Pilkington, 22 Heather Close"
    r"|\b(?:mrs?|ms|miss|mx|sra?|srta|don|do[ñn]a)\.?\s+[^\W\d_][\w'’-]+(?:\s+[^\W\d_][\w'’-]+){0,2}"
    r"(?:,\s*|\s*\()(\d{1,3})\b(?!\s*(?:mg|g|ml|mmol|%|/|\.\d|,\d))"
    r"(?!\s+[A-Z][a-z]+\s+(?:Close|Street|St|Road|Rd|Avenue|Ave|Lane|Court|Drive|Way|Place|Crescent|Gardens|Terrace|Grove|Calle)\b)"
)
# A birth date: "DOB: 12/03/1961", "Date of birth: 1985-03-12", "F. nac.: 12-03-1961", "born 1961".
_BIRTH_RE = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.|date of birth|birth date|born(?: on| in)?|fecha de nacimiento|f\.?\s*nac\.?|"
    r"nacid[oa](?: el| en)?|fn)\s*:?\s*(?:(?P<iso>(?:19|20)\d\d-\d\d-\d\d)|(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>(?:19|20)\d\d)"
    r"|(?P<year>(?:19|20)\d\d)\b)"
)
# An age written in the past: not the patient's age now.
_PAST_AGE_RE = re.compile(r"(?i)(?:\bat\s+(?:the\s+)?|\bsince\s+(?:the\s+)?|\ba\s+los\s+|\bdesde\s+los\s+)$")
# Ages of infants: "3-day-old", "5 months old", "15-week-old", "7 meses", "lactante de 8 meses".
_INFANT_AGE_RE = re.compile(
    r"(?i)\b(\d{1,2})[\s\-]*(day|week|month|d[ií]a|semana|mes)(?:s|es)?[\s\-]*(?:old|de vida|de edad)\b"
    r"|\b(?:lactante|beb[eé]|ni[ñn][oa]|infant|baby|reci[eé]n\s+nacid[oa]|neonat[oa]|newborn)\s+(?:de\s+|of\s+)?"
    r"(\d{1,2})\s+(mes|month|semana|week|d[ií]a|day)(?:s|es)?\b"
    r"|\baged?\s+(\d{1,2})\s+(month|week|day)s?\b"
)
_INFANT_YEARS = {"day": 1 / 365.25, "week": 7 / 365.25, "month": 1 / 12}
# "48 M", "74M", "60 yo M", "22yo F", "62F", "M 45": sex as one capital letter beside the age.
_AGE_SEX_RE = re.compile(
    r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.|yrs?|y)?\s*[,/]?\s*([MF])\b|\b([MF])\s*[,/]?\s*(\d{1,3})\b(?!\s*(?:mg|%|/))"
)
_HALF_AGE_RE = re.compile(r"(?i)\b(\d{1,2})(?:\s+|-)(?:1/2|½)[\s-]*(?:years?|yrs?)[\s-]*old\b")
# Ages in words: "a sixty-two-year-old woman", "forty-five year old".
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_UNITS = {
    w: i for i, w in enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], 1)
}
_TEENS = {
    w: i
    for i, w in enumerate(
        [
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ],
        10,
    )
}
_WORD_AGE_RE = re.compile(
    rf"(?i)\b(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-](?P<unit>{'|'.join(_UNITS)}))?|(?P<teen>{'|'.join(_TEENS)})|"
    rf"(?P<single>{'|'.join(_UNITS)}))[\s-]+years?[\s-]+old\b"
)
# Spanish says sex in articles, adjectives and participles: "la paciente", "sexo masculino",
# "Femenina de 77 años", "domiciliada en Rosario".
_FEMALE = (
    r"woman|female|lady|girl|mujer|niña|she|her|femenin[oa]|la paciente|una paciente|ella|"
    r"domiciliada|residenciada|ingresada|intervenida|señora(?=\s+de\s+\d)"
)
_MALE = (
    r"man|male|gentleman|boy|varón|varon|hombre|niño|he|his|him|masculin[oa]|el paciente|un paciente|él|"
    r"domiciliado|residenciado|ingresado|intervenido|señor(?=\s+de\s+\d)"
)
# Titles only as written before a name ("Mrs Garcia", "Sr. Pérez"): "MS" is a disease.
_SEX_RE = re.compile(
    rf"(?i:\b(?:(?P<f>{_FEMALE})|(?P<m>{_MALE}))\b)"
    r"|\b(?:(?P<tf>Mrs|Ms|Miss|Sra|Srta|Dña|Doña)|(?P<tm>Mr|Sr))\.?(?=\s+[A-ZÁÉÍÓÚÑ])"
    # a form's field: "Sex: F", "Gender: male", "Sexo: mujer"
    r"|(?i:\b(?:sex|gender|sexo|g[eé]nero)\s*:\s*)(?:(?P<sf>F|(?i:female|woman|femenino|mujer))|(?P<sm>M|(?i:male|man|masculino|var[oó]n|hombre)))\b"
)
# A place: capitalised names joined by commas, with a region, a state code or a postal code,
# and a province in brackets: "Atlanta, GA 30310", "Kendal, Cumbria LA9 4PQ", "Jerez de la
# Frontera (Cádiz)", "Monterrey, N.L., C.P. 64460", "Stoke-on-Trent ST3 1JX".
_WORD = r"(?:(?:Co|St|Mt|Ft|N\.L|D\.C|Edo)\.|[A-ZÁÉÍÓÚÑ](?:[a-záéíóúñü'’][\wáéíóúñü'’]*)?(?:-[\wáéíóúñü'’]+)*(?![\w]))"
_NAME = rf"{_WORD}(?:[ \t]+(?:(?:de|del|la|las|los|el|upon|on|in|the)[ \t]+){{0,2}}{_WORD})*"
_POSTCODE = r"(?:C\.P\.[ \t]*)?\d{4,5}(?:-\d{4})?|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?(?:[ \t]*\d[A-Z]{2})?"
_PART = rf"(?:{_NAME}(?:[ \t]*\({_NAME}\))?|[A-Z]{{2}}\b)(?:[ \t]+(?:{_POSTCODE})\b)?|(?:{_POSTCODE})\b"
_PLACE = rf"(?P<place>{_NAME}(?:[ \t]*\({_NAME}\))?(?:[ \t]+(?:{_POSTCODE})\b)?(?:,[ \t]*(?:{_PART}))*)"
_CUE_RE = re.compile(
    r"(?:\b(?:[Ff]rom|[Ll]ives(?:[ \t]+[a-z]+){0,4}?[ \t]+in|[Ll]ives|[Ll]iving(?:[ \t]+[a-z]+){0,3}?[ \t]+(?:in|at)|"
    r"(?:a[ \t]+)?[Rr]esident[ \t]+(?:of|in|at)|[Mm]oved[ \t]+to|[Hh]ome[ \t]+(?:is[ \t]+)?in|"
    r"[Rr]esides[ \t]+in|[Rr]esiding[ \t]+in|[Bb]ased[ \t]+in|[Rr]esidente[ \t]+(?:en|de)|[Rr]eside[ \t]+en|[Vv]ive[ \t]+en|"
    r"[Vv]ecin[oa][ \t]+de|[Rr]esidenciad[oa][ \t]+en|[Dd]omiciliad[oa][ \t]+en|[Pp]rocedente[ \t]+de|"
    r"[Oo]riginari[oa][ \t]+de|[Nn]atural[ \t]+de|años,?[ \t]+de|(?:con[ \t]+)?[Dd]omicilio[ \t]+en|"
    r"(?:con[ \t]+)?[Rr]esidencia[ \t]+en|[Rr]adica[ \t]+en|[Hh]abita[ \t]+en)[ \t]+)" + _PLACE
)
# After the age and sex: "38 M, Atlanta, GA", "Mrs. Arsenault, 39, of Dartmouth", "Mujer, 82 a.,
# de Cartagena (Murcia)", "Varón de 52 años (Marbella, Málaga)".
_AFTER_AGE_RE = re.compile(
    r"(?:[ \t]*,?[ \t]*(?:man|woman|male|female|boy|girl|gentleman|lady|varón|mujer|[MF])\b)?"
    r"(?:[ \t]*,[ \t]*(?:(?:of|from|de)[ \t]+)?|[ \t]+(?:of|from|de)[ \t]+|[ \t]*\()" + _PLACE
)
# An address line: "Address: 9 Fellside Court, Kendal, Cumbria LA9 4PQ", "Domicilio: Col. …".
_ADDRESS_RE = re.compile(
    r"(?i)\b(?:home(?:[ \t]+address)?|address|domicilio|direcci[oó]n|residencia|lugar[ \t]+de[ \t]+residencia|"
    r"localidad|poblaci[oó]n|ciudad|city|town|location|(?P<re>re))[ \t]*:[ \t]*(?P<line>[^\n]+)"
)
_STREET_RE = re.compile(
    r"(?i)^\d|\b(?:street|st|road|rd|avenue|ave|lane|ln|close|court|drive|dr|way|place|apt|flat|unit|suite|"
    r"calle|c/|avda|avenida|plaza|piso|col|colonia|barrio|urb)\b\.?|^(?:mr|mrs|ms|miss|dr|sr|sra|srta)\b"
)
_TITLE_RE = re.compile(r"(?:Mr|Mrs|Ms|Miss|Mx|Sr|Sra|Srta|Dña)\b\.?\s")
# Capitalised words that start a sentence, a heading or a clinical abbreviation, not a place.
_NOT_PLACES = frozenset(
    [
        "Patient",
        "Pt",
        "Dear",
        "Re",
        "Reason",
        "History",
        "PMH",
        "Diagnosis",
        "Dx",
        "Hospital",
        "Clinic",
        "Department",
        "Service",
        "Servicio",
        "Dr",
        "Doctor",
        "Mr",
        "Mrs",
        "Ms",
        "Nephrology",
        "Referral",
        "Thank",
        "The",
        "She",
        "He",
        "Her",
        "His",
        "Hx",
        "Meds",
        "Medications",
        "Allergies",
        "Exam",
        "Labs",
    ]
)
# "natural de Lugo y residente en A Coruña": where she lives, not where she was born.
_BIRTHPLACE_RE = re.compile(r"(?i)\b(?:natural de|born in|nacid[oa] en|originari[oa] de)\s*$")


def _relative_before(text: str, start: int) -> bool:
    return bool(_FAMILY_RE.search(text[max(0, start - 30) : start]))


def _age_from_birth(text: str, today: dt.date) -> tuple[int, int, float] | None:
    m = _BIRTH_RE.search(text)
    if m is None:
        return None
    try:
        if m.group("iso"):
            born = dt.date.fromisoformat(m.group("iso"))
        elif m.group("y"):
            day, month = int(m.group("d")), int(m.group("m"))
            if month > 12:  # 03/25/1961: the US order
                day, month = month, day
            born = dt.date(int(m.group("y")), month, day)
        else:
            born = dt.date(int(m.group("year")), 7, 1)  # a year alone: mid-year
    except ValueError:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return (m.start(), m.end(), float(years)) if 0 <= years <= 120 else None


def read_age(text: str, out: Parse, today: dt.date | None = None) -> None:
    found: list[tuple[int, int, float]] = []
    for m in _AGE_RE.finditer(text):
        value = float(next(g for g in m.groups() if g is not None))
        if not 0 < value <= 120 or _relative_before(text, m.start()):
            continue
        if _PAST_AGE_RE.search(text[max(0, m.start() - 20) : m.start()]):
            continue  # "at age 26": an age in her past
        found.append((m.start(), m.end(), float(value)))
        break
    for m in _HALF_AGE_RE.finditer(text):
        if not _relative_before(text, m.start()):
            found.append((m.start(), m.end(), int(m.group(1)) + 0.5))  # "2 1/2-year-old girl"
            break
    for m in _WORD_AGE_RE.finditer(text):
        if not _relative_before(text, m.start()):
            tens, unit, teen, single = (
                w.lower() if w else "" for w in m.group("tens", "unit", "teen", "single")
            )
            value = _TENS.get(tens, 0) + _UNITS.get(unit or single, 0) + _TEENS.get(teen, 0)
            found.append((m.start(), m.end(), float(value)))
            break
    for m in _INFANT_AGE_RE.finditer(text):
        amount, unit_word = [g for g in m.groups() if g is not None][:2]
        unit = {"d": "day", "s": "week", "w": "week", "m": "month"}[unit_word[0].lower()]
        found.append((m.start(), m.end(), round(int(amount) * _INFANT_YEARS[unit], 4)))
        break
    for m in _AGE_SEX_RE.finditer(text):
        value = int(m.group(1) or m.group(4))
        if 0 < value <= 120:
            found.append((m.start(), m.end(), float(value)))
            break
    if not found and (birth := _age_from_birth(text, today or dt.date.today())) is not None:
        found.append(birth)  # only when no age is written: the letter's own word wins
    if found:
        start, end, years = min(found)
        out.patient["age"] = int(years) if years == int(years) else years
        out.evidence.append(Evidence("age", text[start:end], start, end))


def read_sex(text: str, out: Parse) -> None:
    candidates: list[tuple[int, int, str, str]] = []
    for m in _SEX_RE.finditer(text):
        if _relative_before(text, m.start()):
            continue
        female = bool(m.group("f") or m.group("tf") or m.group("sf"))
        candidates.append((m.start(), m.end(), "female" if female else "male", m.group(0).rstrip(".")))
        break
    short = _AGE_SEX_RE.search(text)
    if short:
        letter = short.group(2) or short.group(3)
        where = 2 if short.group(2) else 3
        candidates.append(
            (short.start(where), short.end(where), "female" if letter == "F" else "male", letter)
        )
    if candidates:
        start, end, sex, written = min(candidates)
        out.patient["sex"] = sex
        out.evidence.append(Evidence("sex", written, start, end))


def _plausible(place: str) -> bool:
    first = place.split(",")[0].split()[0].strip("(")
    if first in _NOT_PLACES:
        return False
    if first.isupper() and len(first) > 2 and "." not in first:
        return False  # "FSGS", "CKD": an abbreviation
    from ingest.vocabulary.recognizer import find_concepts

    return not any(m.start == 0 for m in find_concepts(place))  # "from IgA nephropathy"


def _address(line: str) -> str | None:
    """The place of an address line: the parts after the street (and, on a "Re:" line, after
    the name and age), up to the end of the address."""
    parts = [p.strip() for p in line.split(",")]
    while parts and _STREET_RE.search(parts[0]):
        parts.pop(0)
    m = re.match(_PLACE, ", ".join(parts))
    return m.group("place").strip(" ,.") if m else None


def read_place(text: str, out: Parse) -> None:
    """Where she lives: after a cue ("lives in", "from", "residente en"), in an address line,
    or right after her age and sex; a birthplace is passed over for the residence."""
    candidates: list[tuple[int, int, int, str]] = []  # (priority, start, end, place)
    for m in _CUE_RE.finditer(text):
        place = m.group("place").strip(" ,")
        if _plausible(place):
            birthplace = bool(_BIRTHPLACE_RE.search(text[max(0, m.start() - 2) : m.start("place")]))
            candidates.append(
                (2 if birthplace else 0, m.start("place"), m.start("place") + len(place), place)
            )
    for m in _ADDRESS_RE.finditer(text):
        if m.group("re") and not _TITLE_RE.match(m.group("line")):
            continue  # "Re: John Smith, …": a subject line names a place only after "Mr …, age,"
        place = _address(m.group("line"))
        if place and _plausible(place):
            start = (
                text.index(place, m.start("line")) if place in text[m.start("line") :] else m.start("line")
            )
            candidates.append((0, start, start + len(place), place))
    age = next((e for e in out.evidence if e.field == "age"), None)
    if age is not None:
        after = _AFTER_AGE_RE.match(text, age.end)
        if after:
            place = after.group("place").strip(" ,")
            if _plausible(place):
                candidates.append((1, after.start("place"), after.start("place") + len(place), place))
    if not candidates:
        out.warnings.append("location: no place found (give --near PLACE)")
        return
    _, start, end, place = min(candidates)
    out.patient["location"] = place
    out.evidence.append(Evidence("location", text[start:end], start, end))
