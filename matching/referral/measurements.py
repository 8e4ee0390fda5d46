"""Measurements in a letter or a case note: a catalogue variable and the value written for it.

A name, then a value, then the unit as written: "eGFR 38 mL/min/1.73 m2", "creatinina 1,6 mg/dL",
"his blood urea nitrogen is 33 mg/dL", "a hemoglobin (Hb) of 9.0 g/dL", "HR: 90/min",
"T = 39.7ºC", "Na: 147 mEq/L"; a value in brackets after the finding it measures: "febrile
(38.4°C)", "tachycardic (113/min)", "hypotensive (80/40 mmHg)"; a value before its name:
"165 cm tall", "40 pack-years"; blood pressure as two values, "BP 115/80 mm Hg". Variable
names come from the criteria catalogue (``ingest/criteria/data/variables.json``, shared with the
criteria parser) plus the shorthand of letters below. A value outside the variable's plausible
range, when written in its usual unit, is not read ("T2" is a tumour stage, not 2 °C).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any, NamedTuple

from ingest.criteria.catalogue import Catalogue, Variable, load_catalogue
from ingest.vocabulary.concepts import TREATMENT_KINDS
from ingest.vocabulary.context import modifiers
from ingest.vocabulary.recognizer import Mention
from matching.referral.model import Evidence, Parse

# Letter shorthand and Spanish names the catalogue does not list (it serves criteria, which
# spell names out). Matched case-insensitively, except the short capitalised ones.
_LETTER_NAMES: dict[str, str] = {
    "fge": "egfr", "tfge": "egfr", "filtrado glomerular": "egfr", "filtrado glomerular estimado": "egfr",
    "creatinina": "creatinine", "creatinina sérica": "creatinine", "creat": "creatinine",
    "cociente proteína/creatinina": "upcr", "cociente proteínas/creatinina": "upcr", "cpc": "upcr",
    "cociente albúmina/creatinina": "uacr", "cac": "uacr", "proteinuria": "proteinuria",
    "hemoglobina glicada": "hba1c", "hemoglobina glucosilada": "hba1c", "hba1c": "hba1c",
    "hemoglobina": "hemoglobin", "hgb": "hemoglobin", "plaquetas": "platelets", "potasio": "potassium",
    "albúmina": "albumin", "calcio": "calcium", "fósforo": "phosphate", "ferritina": "ferritin",
    "leucocitos": "wbc", "wbc count": "wbc", "eosinófilos": "eosinophils", "neutrófilos": "anc", "white count": "wbc", "linfocitos": "lymphocytes",
    "bilirrubina": "bilirubin", "bili": "bilirubin", "bill total": "bilirubin", "bilirubin total": "bilirubin",
    "colesterol total": "total_cholesterol", "triglicéridos": "triglycerides", "troponina": "troponin",
    "proteína c reactiva": "crp", "vsg": "esr", "sodio": "sodium", "ácido úrico": "uric_acid",
    "peso": "weight", "talla": "height", "length": "height", "imc": "bmi", "fracción de eyección": "lvef",
    "fevi": "lvef", "colesterol ldl": "ldl", "glucemia": "glucose", "glc": "glucose", "glu": "glucose", "glucosa": "glucose",
    "heart rate": "heart_rate", "pulse": "heart_rate", "respirations": "respiratory_rate", "frecuencia cardiaca": "heart_rate",
    "frecuencia cardíaca": "heart_rate", "respiratory rate": "respiratory_rate", "resp rate": "respiratory_rate",
    "frecuencia respiratoria": "respiratory_rate", "temp": "temperature", "temperatura": "temperature",
    "satting": "spo2", "saturating": "spo2", "trop": "troponin", "bicarb": "bicarbonate", "phos": "phosphate",
    "tbili": "bilirubin", "sato2": "spo2", "sat o2": "spo2", "vitamina d": "vitamin_d", "25-oh vitamina d": "vitamin_d", "plt": "platelets", "tmax": "temperature", "t bili": "bilirubin", "fsbg": "glucose", "fingerstick glucose": "glucose", "uop": "urine_output",
    "o2 sat": "spo2", "o2 sats": "spo2", "o2sat": "spo2", "sats": "spo2", "sat": "spo2", "saturation": "spo2",
    "saturación": "spo2", "alk p": "alp", "alk phos": "alp", "fosfatasa alcalina": "alp",
    "nitrógeno ureico": "bun", "bicarbonato": "bicarbonate", "diuresis": "urine_output", "pk-yrs": "pack_years", "pack-yrs": "pack_years",
    "relación albúmina/creatinina": "uacr", "cociente albúmina-creatinina": "uacr",
    "transferrin saturation": "tsat", "saturación de transferrina": "tsat", "ist": "tsat",
    "paquetes-año": "pack_years", "paquetes/año": "pack_years", "ipa": "pack_years",
}  # fmt: skip
_CASED_NAMES: dict[str, str] = {
    "HR": "heart_rate", "FC": "heart_rate", "RR": "respiratory_rate", "FR": "respiratory_rate",
    "T": "temperature", "Tª": "temperature", "P": "heart_rate", "R": "respiratory_rate", "K": "potassium",
    "Na": "sodium", "Na+": "sodium", "K+": "potassium", "Ca": "calcium", "Cr": "creatinine",
    "Hb": "hemoglobin", "PCR": "crp", "Cl−": "chloride", "Mg": "magnesium", "FA": "alp", "Cl-": "chloride", "HCO3−": "bicarbonate",
    "HCO3-": "bicarbonate", "Mg2+": "magnesium", "Ca2+": "calcium", "Na⁺": "sodium", "K⁺": "potassium",
}  # fmt: skip
# Spanish "PCR" is C-reactive protein; English "urine PCR" is the protein:creatinine ratio.
_SPANISH_ONLY = frozenset({"PCR", "FC", "FR", "FA"})
# Single letters count only as a vital sign or a lab line: "T = 39.7", "P 117", "K: 4.5".
_SINGLE_LETTER_VALUE_RE = re.compile(r"\s*[:=]?\s*\d")
# "8,000", "45.000", "14 120" (groups of three), or "1.6", "1,6", "147".
_NUMBER = r"(?P<value>\d{1,3}(?:[,.\u2009]\d{3})+(?![\d])|\d+(?:[.,]\d+)?)"
_VALUE_AFTER_RE = re.compile(
    r"(?:\s*\([A-Za-z0-9+\- ]{1,12}\))?"  # "hemoglobin (Hb) of 9.0"
    r"(?:\s*(?:count|level|levels|concentration|value|score|total|class|was|were|is|are|of|at|measured at|"
    # "(NIHSS) score was calculated as 7", "the scoliotic curve is measured as 45 degree"
    r"measured as|calculated as|calculated at|estimated at|estimated as|estimated to be|found to be|"
    # "MPO titer 112 IU/mL", "DAS28-CRP today 5.4", "SpO2 nadir 88%", "K actual 5,2"
    r"titer|titre|activity|index|today|nadir|has|have|had|measured|measures|"
    r"elevated at|increased to|rose to|now|currently|basal|baseline|fasting|random|peak|actual|de|fue|es|en|"
    # "the hemoglobin level dropped to 7 g/dL", "a creatinine that peaked at 5.6 mg/dL"
    r"dropped to|fell to|decreased to|declined to|improved to|peaked at|reached|went up to|went down to|elevated to|"
    r":|=|~|≈|\(|,)\s*){0,3}"
    # "LVEF on recent echo is 25%": a few words, then the verb
    r"(?:(?:\s+[a-z]+){1,4}?\s+(?:is|was|were|are|of|at|measured at)\s*)?\s*"
    # "eGFR has fallen from 61 to 44": the earlier value (the later one is read as its trend)
    r"(?:(?:has|have|had)\s+)?(?:(?:fallen|fell|risen|rose|dropped|declined|increased|decreased|improved|"
    r"worsened|gone\s+(?:up|down))\s+from\s+)?"
    # "anti-TPO levels were extremely high (120 IU/ml)": how it stands, the value in brackets
    r"(?:(?:(?:very|extremely|markedly|mildly|moderately|slightly|significantly)\s+)?"
    r"(?:high|low|elevated|raised|increased|decreased|reduced|normal|abnormal)\s*(?:\(|at\s)\s*)?"
    r"(?:[<>≤≥]\s*)?(?P<sign>[-−–](?=\d))?"
    + _NUMBER
    + r"(?!\d)(?![-\s]?h(?:rs?|ours?)?\b)(?:\s*/\s*(?P<second>\d+))?"
    r"(?P<unit>[ \t\u2009]*(?!(?:to|from|over|and|or|in|on|at|for|with)\b)(?:[x×]\s*10\s*(?:\^\s*)?(?:\d+|[³⁶⁹]|\(\d\))\s*/\s*(?:[lL]|[µμu]?[lL]|mm3|mm³)|"
    r"%|[°º]\s*[CF]\b|mm\s*Hg\b|cm\s*H2O\b|degrees?\s+(?:Celsius|Fahrenheit|centigrade|C|F)\b|/[a-zA-Zµμ][\w.µμ^²³]*|"
    r"[a-zA-Zµμ][\w/.µμ^²³]*(?:\s*[\d.,]*\s*m[2²]|(?<=/24)\s*h(?:rs?|ours?)?\b)?)"
    # a unit carried to the next line by the letter's wrapping ("eGFR 68\nmL/min/1.73 m2")
    r"|\r?\n[ \t]*[a-zA-Zµμ]+/[\w/.µμ^²³]*(?:\s*[\d.,]*\s*m[2²])?)?"
)
_BP_RE = re.compile(
    r"(?i)\b(?:bp|blood pressure|arterial pressure|ta|tensión arterial|presión arterial|pa)\b"
    r"(?:[^\d\n.;]{0,30}?)\s*(?:of|was|is|de|:|=|\()?\s*(\d{2,3})\s*(?:/|\s+over\s+)\s*(\d{2,3})(\s*mm\s*hg)?"
    r"|\b(?:hypotensive|hypertensive|hipotens[oa]|hipertens[oa]|hypotension|hypertension)\s*(?:\(|\bat\b|\bof\b|\bto\b)\s*(\d{2,3})\s*/\s*(\d{2,3})(\s*mm\s*hg)?"
)
# A value in brackets after the finding it measures.
_FINDING_VALUE_RE = re.compile(
    r"(?i)\b(?P<finding>febrile|pyrexial|tachycardic|bradycardic|tachypnoeic|tachypneic|hypoxic|"
    r"leukocytosis|leucocytosis|thrombocytopenia|anemia|anaemia|hyperkalemia|hyperkalaemia|hyponatremia|"
    r"hyponatraemia|fiebre|febril|taquicárdic[oa]|tachycardia|bradycardia|fever|temperature\s+spike)\s*(?P<link>\(|\b(?:at|of|to)\b)\s*"
    + _NUMBER
    + r"(?P<unit>\s*(?:°\s*C|º\s*C|/min|%|[a-zA-Zµμ/][\w/.µμ^]*)?)"
)
_FINDING_VARIABLE = {
    "febrile": "temperature", "pyrexial": "temperature", "fiebre": "temperature", "febril": "temperature",
    "tachycardic": "heart_rate", "bradycardic": "heart_rate", "taquicárdico": "heart_rate",
    "taquicárdica": "heart_rate", "tachypnoeic": "respiratory_rate", "tachypneic": "respiratory_rate",
    "hypoxic": "spo2", "leukocytosis": "wbc", "leucocytosis": "wbc", "thrombocytopenia": "platelets",
    "anemia": "hemoglobin", "anaemia": "hemoglobin", "hyperkalemia": "potassium", "hyperkalaemia": "potassium",
    "hyponatremia": "sodium", "hyponatraemia": "sodium", "tachycardia": "heart_rate", "bradycardia": "heart_rate", "fever": "temperature", "temperature spike": "temperature",
}  # fmt: skip
# A value before its name: "165 cm tall", "weighs 70 kg" (after), "40 pack-years", "30 pk-yrs".
_VALUE_BEFORE_RE = re.compile(
    r"(?i)\b" + _NUMBER + r"\s*(?P<unit>cm|m|in|ft)\s+(?:\([^)\n]{1,20}\)\s+)?tall\b"
    # "5 feet 10 inches tall", "5 ft 4 in", "5'10\"": inches
    r"|\b(?P<feet>[3-7])\s*(?:feet|foot|ft|')\s*(?P<inches>\d{1,2})\s*(?:inches|inch|in\b|\"|'')"
    r"|\b(?P<py>\d{1,3}(?:[.,]\d)?)[\s-]*(?:packs?|pks?|paquetes)[\s/-]*(?:years?|yrs?|año|años)\b"
    # "about 10 cigarettes a day", "15 cigarrillos al día"
    r"|\b(?P<cig>\d{1,3})[\s-]*(?:cigarettes?|cigs?|cigarrillos?)[\s/]*(?:a|per|each|/|al|por)?[\s/]*(?:day|d|día|dia)\b"
    # "at 11 weeks gestation", "11 weeks pregnant", "a las 14 semanas de gestación"
    r"|\b(?P<ga>\d{1,2}(?:[.,]\d)?)[\s-]*(?:weeks?|wks?|semanas)'?[\s-]+(?:of[\s-]+)?(?:gestation|gestational\s+age|pregnant|"
    r"pregnancy|de\s+(?:gestación|embarazo)|embarazada)\b"
    r"|\b(?:embarazo|gestación)\s+de\s+(?P<ga_es>\d{1,2})\s+semanas\b"
    # at birth: "born prematurely at 32 weeks", "exprematuro de 32 semanas", "ex-28-weeker"
    r"|\bborn\s+(?:\w+\s+){0,2}?at\s+(?P<born>\d{2})(?:\s*\+\s*\d)?\s*(?:weeks?|wks?|w)\b"
    r"|\b(?:ex-?)?(?:prematur[oa]|pretérmino|preterm|premature)\s+(?:de|of|at)\s+(?P<born_es>\d{2})\s+(?:semanas|weeks?)\b"
    r"|\bex-?(?P<weeker>\d{2})[\s-]*week(?:er)?s?\b"
)
# Weight lost or gained: "lost 8 kg", "an 8 kg weight loss", "a 9 kg weight gain", "gained 4 kg",
# "pérdida de 8 kg", "weight loss of 8 kg" is read by the name.
_WEIGHT_CHANGE_RE = re.compile(
    r"(?i)\b(?:(?P<lost>lost|losing|loses|pérdida\s+de|perdió|ha\s+perdido)|(?P<gained>gained|gaining|gains|"
    r"ganancia\s+de|aumento\s+de|ganó|ha\s+ganado))\s+(?:(?:about|approximately|around|unos|unas|aproximadamente)\s+)?"
    + _NUMBER
    + r"\s*(?P<unit>kg|kilos?|lbs?|pounds)\b"
    r"|\b" + _NUMBER.replace("value", "before") + r"[\s-]*(?P<unit_before>kg|kilos?|lbs?|pounds|-kg|-lb)\s+"
    r"(?:(?:unintentional|unintended|involuntary|unexplained)\s+)?(?:of\s+)?weight\s+(?P<change>loss|gain)\b"
)
# "Child-Pugh B7", "Child-Pugh class A (5 points)": the points.
_CHILD_PUGH_RE = re.compile(
    r"(?i)\bChild(?:[\s-]+Turcotte)?[\s-]+Pugh(?:\s+(?:class|clase|grade|score|stage))?\s*[ABC][\s-]?(?P<value>\d{1,2})\b"
)
# "FEV1 1.6 L, 46% pred", "FVC 2.10 L (65 % predicted)": the share of predicted after the volume.
_PERCENT_PREDICTED_RE = re.compile(
    r"[ \t]*[,(;]?[ \t]*(?P<value>\d{1,3}(?:[.,]\d)?)[ \t]*%[ \t]*(?:of[ \t]+)?(?:pred(?:icted)?|p|teórico|del[ \t]+teórico)\b\.?\)?"
)
_BORN_AT_RE = re.compile(
    r"(?i)\b(?:born|delivered|birth|nació|nacid[oa])\s+(?:at|a\s+las|en\s+la\s+semana)?\s*$"
)
_NON_BLANK_RE = re.compile(r"\S")
_LINK_RE = re.compile(r"[ \t]*(?:[:=]|of|was|is|at|were)?[ \t]*")
_SHARE_OF = {"anc": "neutrophil_percent"}
_VOLUME_OF = {"fev1": "fev1_volume", "fvc": "fvc_volume"}
_LITRES_RE = re.compile(r"(?i)\s*(?:m?l|litres?|liters?)\b")
# A share before the cells it counts: "approximately 50% lymphocytes", "12% eosinophils".
# "91% HbS 6%HbF 3%HbA2" too (the name's own case decides whether it is a variable's).
_PERCENT_BEFORE_RE = re.compile(r"(?<![\w.,])(?P<value>\d{1,2}(?:[.,]\d)?)\s*%\s*(?:de\s+)?(?=[A-Za-z])")
# Red cells counted per microscope field are the urine's: "30 hematíes/campo", "25 RBCs/hpf".
_PER_FIELD_RE = re.compile(
    r"(?i)(?<![\w.,/–-])(?P<value>\d{1,3})\s*(?:hemat[ií]es|eritrocitos|rbcs?|red\s+(?:blood\s+)?cells)\s*"
    r"(?:/|por|per)\s*(?:campo|hpf|high[\s-]power\s+field)\b"
)
# A lesion's size before it, its largest dimension: "a 1.8 cm infiltrating ductal carcinoma",
# "9.5 x 7.5 x 6.0-cm heterogeneous left upper abdominal mass", "a 10-mm polyp"; or after it:
# "the largest gallstone is 0.7cm", "a nodule measuring 12 mm".
_LESION = (
    r"(?P<lesion>mass(?:es)?|tumou?rs?|carcinomas?|adenocarcinomas?|lesions?|nodules?|cysts?|polyps?|"
    r"(?:gall)?stones?|calculi|calculus|abscess(?:es)?|(?:macro|micro)?adenomas?|infiltrates?|ulcers?|"
    r"aneurysms?|infarcts?|plaques?|thrombus|vegetations?|hematomas?|haematomas?|lymph nodes?|masa|tumor|nódulos?|quistes?)"
)
_SIZE = (
    r"(?P<size>\d{1,3}(?:[.,]\d{1,2})?(?:\s*(?:x|×|by)\s*\d{1,3}(?:[.,]\d{1,2})?){0,2})"
    r"\s*-?\s*(?P<unit>cm|mm)\b"
)
_LESION_SIZE_RE = re.compile(
    r"(?i)(?<![\w.,/])"
    + _SIZE
    + r"(?:[ \t]+(?!(?:from|of|in|on|at|to|and|with|below|above)\b)[\w'-]+){0,4}?[ \t]+"
    + _LESION
    + r"\b"
    r"|\b" + _LESION.replace("lesion>", "lesion_before>") + r"[ \t]+(?:(?:is|was|measur(?:es|ed|ing))[ \t]+)+"
    r"(?:(?:about|approximately|up to)[ \t]+)?"
    + _SIZE.replace("size>", "size_after>").replace("unit>", "unit_after>")
)
# Results under a urinalysis heading or after its name are the urine's: "U/A: ... Glc: 100 ...
# WBC: 2 WBCs/hpf", "Urinalysis showed glucose 100 and 10 WBC/hpf".
_URINE_HEADING_RE = re.compile(
    r"(?i)(?:\b(?:urinalysis|urine\s+analysis|urinanalysis|u/a|urine\s+dipstick|dipstick|sedimento(?:\s+urinario)?|"
    r"análisis\s+de\s+orina|orina)\b|\burine\b(?=[ \t]*(?::|showed|shows|revealed|demonstrated)))"
    r"[ \t]*(?::|showed|shows|revealed|demonstrated|was\s+notable\s+for|with)?"
    r"|(?-i:\bUA\b)[ \t]*:"
)
_URINE_LINE_RE = re.compile(r"[ \t]*[A-Za-z][^:\n]{0,30}:[^\n]*\n|[ \t]*\n")
_URINE_VARIABLE = {
    "glucose": "urine_glucose", "wbc": "urine_wbc", "rbc": "urine_rbc", "blood_ph": "urine_ph", "sodium": "urine_sodium"
}  # fmt: skip
# Whose value it is when a word before the name says so: the fetus's heart rate, the uterus's height.
_NOT_HERS_BEFORE_RE = re.compile(
    r"(?i)\b(?:fundal|fetal|foetal|uterine|baby's|infant's|fetus's|neonatal)[ \t]+$"
)
_PH_RE = re.compile(r"(?i)\bpH\b")
# Pain on a scale of ten, said of the pain: "pain … scored 9 out of 10", "pain rated 7/10",
# "8/10 pain"; the clause must be about pain.
_PAIN_SCORE_RE = re.compile(
    r"(?i)\bpain\b[^.;\n]{0,80}?\b(?:(?:scored|rated|rates|rating|score of|of|at|is|was)\s+)?"
    r"(?<![\d/])(?P<value>\d{1,2})\s*(?:/|out of)\s*10\b(?![/\d])"
    r"|\b(?P<before>\d{1,2})\s*/\s*10\s+(?:\w+\s+)?pain\b"
)
# Names, then as many values, then "respectively": "LDL-C and HDL-C levels were 545 and 53 mg/dL,
# respectively", "TSH, free T4 and T3 of 13, 0.2 and 0.5, respectively".
_RESPECTIVELY_RE = re.compile(
    r"(?i)(?P<names>[^.;:\n]{3,160}?)\s+(?:(?:levels?|values?|counts?|concentrations?)\s+)?"
    r"(?:were|was|are|of|at|measured at|measured|:|\()\s*(?:(?:about|approximately|around)\s+)?"
    r"(?P<values>[<>≤≥]?\s*\d[\d.,]*(?:\s*[a-zµμ%/][\w/.µμ%]*)?"
    r"(?:\s*(?:,\s*and|,|and)\s*[<>≤≥]?\s*\d[\d.,]*(?:\s*[a-zµμ%/][\w/.µμ%]*)?)+)"
    r"\s*,?\s*(?:respectively\b|resp\.)"
)
_RESPECTIVE_VALUE_RE = re.compile(
    r"(?P<number>\d+(?:[.,]\d+)*)(?:\s*(?P<unit>(?!and\b)[a-zµμ%/][\w/.µμ%]*))?", re.I
)
_RESPECTIVELY_WORD_RE = re.compile(r"(?i)\brespectively\b|\bresp\.")
# A unit over a volume: a drug's level in blood, not its dose ("tacrolimus trough 6.2 ng/mL").
_CONCENTRATION_RE = re.compile(r"/\s*(?:d|m|µ|μ|u)?[lL]\b")
# Words that make a drug's name a laboratory result: "FVIII activity is 40%", "vancomycin level 15".
_LEVEL_WORD_RE = re.compile(r"(?i)\b(?:activity|levels?|trough|titers?|titres?|concentrations?)\b")
# Values the catalogue has no variable for, kept under the name written, when the text lays
# them out as a result: a lab line ("MCV: 106 fL", "Anti-TPO: 400") or an abbreviation, a
# number and a lab unit ("PTH 28 pg/mL", "IgG 450 mg/dL").
_LAB_UNIT = (
    r"(?:fL|fl|pg|pg/mL|pg/ml|ng/mL|ng/ml|ng/dL|ng/dl|µg/L|ug/L|μg/L|µg/dL|ug/dL|mcg/dL|U/L|IU/L|UI/l|UI/L|U/mL|"
    r"IU/mL|kU/L|µg/mL|ug/mL|μg/mL|mcg/mL|mg/dL|mg/dl|mg/L|mg/l|g/dL|g/dl|g/L|g/l|mmol/L|mmol/l|µmol/L|umol/L|μmol/L|mEq/L|mEq/l|"
    r"nmol/L|pmol/L|mIU/L|mIU/mL|µIU/mL|uIU/mL|x\s*10\^?\d+/[lL]|/mm3|/mm³|/µL|/uL|/μL|/hpf|copies/mL|%|cm|mm\s*Hg|mm|mL|ml|L|s|sec)"
)
_LAB_LINE_RE = re.compile(
    r"(?m)(?:^|(?<=[,;(]))[ \t]*(?P<name>[A-Za-z][A-Za-z0-9+\-]{1,14}(?:[ \t][A-Za-z0-9+\-]{1,14}){0,2}?)"
    r"[ \t]*[:=][ \t]*(?:[<>≤≥][ \t]*)?"
    + _NUMBER.replace("value", "value")
    + r"(?:[ \t]*(?P<unit>"
    + _LAB_UNIT
    + r"))?(?![\w/])"
)
# An abbreviation and its value, with a lab unit or, for scores, none: "PTH 28 pg/mL", "Kt/V 1.5",
# "FeNO 62 ppb", "CHA2DS2-VASc 5", "LI-RADS 5".
_ABBREVIATION_VALUE_RE = re.compile(
    r"\b(?P<name>[A-Z][A-Za-z]?[A-Za-z0-9]{0,5}[A-Z0-9](?:[-/][A-Za-z0-9]{1,6}){0,2})(?:[ \t]*(?::|=)|[ \t]+(?:of|was|is))?[ \t]+"
    r"(?:[<>≤≥][ \t]*)?"
    + _NUMBER
    + r"(?:[ \t]*(?P<unit>"
    + _LAB_UNIT
    + r"|ppb|dB/m|kPa|EU|mmHg))?(?![\w/.,]\d|[\w/])"
)
# A named value written in prose, with its unit: "IGF-1 of 968 ng/mL", "head circumference 36 cm",
# "a random GH level of 4 ug/L", "tacrolimus trough 6.2 ng/mL", "urea of 8.5 mmol/L".
# A value with a unit (the anchor), and the name written before it (read backwards from there).
_UNIT_VALUE_RE = re.compile(
    r"(?<![\w.,])" + _NUMBER + r"[ \t\u2009]*(?P<unit>" + _LAB_UNIT + r"|ppb|dB/m|kPa|EU|cm/s|mmHg)(?![\w/])"
)
_NAME_BEFORE_RE = re.compile(
    r"(?P<name>(?:[A-Za-z][\w\-/+]*[ \t]){0,2}[A-Za-z][\w\-/+]*)[ \t]*(?:\([A-Za-z0-9\-]{2,10}\)[ \t]*)?"
    r"(?:(?:level|levels|activity|trough|titer|titre|count|concentration|index|value)[ \t]+)?"
    r"(?:(?:of|was|is|were|at)[ \t]+|[:=][ \t]*)?(?:[<>≤≥][ \t]*)?$"
)


class _Candidate(NamedTuple):
    """A name and a value written for it: where each is, and the unit if any."""

    name: str
    name_start: int
    name_end: int
    value: str
    unit: str | None
    end: int
    from_lab_line: bool


def _candidates(text: str) -> list[_Candidate]:
    found = []
    for pattern in (_LAB_LINE_RE, _ABBREVIATION_VALUE_RE):
        for m in pattern.finditer(text):
            where = (m.start("name"), m.end("name"))
            lab_line = pattern is _LAB_LINE_RE
            found.append(
                _Candidate(m.group("name"), *where, m.group("value"), m.group("unit"), m.end(), lab_line)
            )
    for value in _UNIT_VALUE_RE.finditer(text):
        before = _NAME_BEFORE_RE.search(text, max(0, value.start() - 60), value.start())
        if before is not None and "\n" not in text[before.start() : value.start()]:
            where = (before.start("name"), before.end("name"))
            unit = value.group("unit")
            found.append(
                _Candidate(before.group("name"), *where, value.group("value"), unit, value.end(), False)
            )
    return found


# Words that begin a named value's phrase but are not its name.
_LEADING_WORDS = frozenset(
    ["random", "fasting", "peak", "nadir", "latest", "recent", "current", "repeat", "initial", "baseline",
     "serum", "plasma", "total", "his", "her", "their", "its", "the", "a", "an"]
)  # fmt: skip
# Words that end a value's phrase but are not its name: "SpO2 nadir 88%", "K actual 5.2".
_TRAILING_WORDS = frozenset(
    ["nadir", "actual", "peak", "now", "today", "level", "levels", "activity", "titer", "trough"]
)
_LINK_WORDS = frozenset(["was", "is", "were", "are", "of", "at", "measured", "found"])
_STATE_WORDS = frozenset(
    [
        "elevated",
        "raised",
        "increased",
        "decreased",
        "reduced",
        "low",
        "high",
        "normal",
        "suppressed",
        "markedly",
    ]
)
# Words that cannot be inside a value's name: what comes before the last of them is another phrase.
_BREAK_WORDS = frozenset(
    ["and", "or", "with", "of", "in", "on", "at", "to", "by", "for", "from", "than", "between", "was", "is",
     "were", "are", "be", "been", "has", "had", "have", "showed", "shows", "revealed", "reveals", "measured",
     "estimated", "approximately", "about", "around", "less", "more", "over", "under", "up", "de", "del", "la",
     "el", "un", "una", "con", "y", "en", "que", "values", "cutoff", "an", "a", "the"]
)  # fmt: skip
# Without a unit, only a scale's name counts ("CHA2DS2-VASc 5", "HAS-BLED 3", "ACQ-5 2.8"): a bare
# abbreviation before a small number is a stage, a type or a gene ("GOLD 3", "DM 2", "APOL 1").
_SCALE_NAME_RE = re.compile(r"[A-Za-z0-9]+-[A-Za-z0-9]+")
# Labels that hold a number but no measurement: the patient's, the letter's, a dose.
_NOT_MEASURES = frozenset(
    [
        "age",
        "edad",
        "dose",
        "dosis",
        "day",
        "dia",
        "week",
        "year",
        "month",
        "cycle",
        "cycles",
        "room",
        "bed",
        "phone",
        "tel",
        "fax",
        "mrn",
        "nhs",
        "id",
        "dob",
        "gravida",
        "para",
        "g",
        "p",
        "date",
        "fecha",
        "page",
        "ref",
        "no",
        "number",
        # a time, not a name: "Creatinine 3.9 mg/dL on admission, now 2.8 mg/dL"
        "now",
        "currently",
        "today",
        "then",
        "later",
        "previously",
        "admission",
        "discharge",
        # a pronoun is no name: "She is 160 cm (5 ft 3 in) tall"
        *("she", "he", "it", "they", "patient", "pt", "who", "which"),
        # a relative is not a measure: "His mother and father are 170 cm and 181 cm tall"
        *("mother", "father", "parents", "sister", "brother", "son", "daughter", "husband", "wife"),
    ]
)
# A value's trend: an earlier value in brackets, or a later one after an arrow or "to".
_EARLIER_RE = re.compile(
    r"\s*\(\s*(?:baseline|basal|was|previously|previous|prior|previo|antes|from)\s*:?\s*" + _NUMBER
)
_LATER_RE = re.compile(
    r"(?:(?:[ \t]+(?:on|at)[ \t]+(?:admission|presentation|baseline))?[ \t]*(?:->|→|=>|to|a)"
    r"|(?:[ \t]+(?:on|at)[ \t]+(?:admission|presentation|baseline))?[,;]?[ \t]*"
    r"(?:now|currently|today|ahora|actualmente))[ \t]+"
    + _NUMBER
    + r"(?P<unit>[ \t]*[a-zA-Zµμ%/][\w/.µμ^²³]*)?"
)
_UNIT_WORDS = frozenset({"in", "on", "and", "y", "en", "con", "with", "since", "desde", "years", "años", "x"})


def _key(written: str) -> str:
    return re.sub(r"[\s\-'’]+", " ", written.lower())


@cache
def _letter_names() -> dict[str, str]:
    return {_key(name): variable for name, variable in _LETTER_NAMES.items()}


@cache
def _names_re() -> tuple[re.Pattern[str], re.Pattern[str]]:
    def alternation(words: list[str], flags: int) -> re.Pattern[str]:
        body = "|".join(
            re.escape(w).replace(r"\ ", r"[\s\-'’]+") for w in sorted(words, key=len, reverse=True)
        )
        return re.compile(rf"(?<![\w])(?:{body})(?![\w])", flags)

    return alternation(list(_LETTER_NAMES), re.I), alternation(list(_CASED_NAMES), 0)


_ROMAN_CLASS_RE = re.compile(
    r"(?i)\b(?P<name>NYHA|New York Heart Association)(?:\s+(?:functional\s+)?class)?\s+(?P<roman>IV|I{1,3})\b"
)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def parse_value(written: str, spanish: bool) -> float:
    """A number as the letter writes it: "8,000" (English thousands), "45.000" (Spanish
    thousands), "1,6" (decimal comma), "14 120" or "14\u2009120" (spaced thousands)."""
    compact = written.replace("\u2009", "").replace(" ", "")
    thousands, _decimal = (".", ",") if spanish else (",", ".")
    if re.fullmatch(rf"\d{{1,3}}(?:\{thousands}\d{{3}})+", compact):
        return float(compact.replace(thousands, ""))
    return float(compact.replace(",", "."))


# Without a unit these are read in their usual one, where a stray number is easily mistaken
# ("T2" a tumour stage, "P 2" a parity): the value must then be plausible for the variable.
_CHECKED_WITHOUT_UNIT = frozenset(
    {"temperature", "heart_rate", "respiratory_rate", "spo2", "potassium", "sodium"}
)


def _plausible(variable: Variable, value: float, unit: str | None) -> bool:
    if unit:
        canonical = variable.convert(value, unit)
        return canonical is None or variable.plausible(canonical)  # an unknown unit is kept as written
    return variable.name not in _CHECKED_WITHOUT_UNIT or variable.plausible(value)


def _urine_regions(text: str) -> list[tuple[int, int]]:
    """Where a urinalysis is reported: the lines of "Name: value" under a heading that ends its
    line ("U/A:"), else the rest of the heading's sentence ("Urinalysis showed glucose 100, …")."""
    regions = []
    for heading in _URINE_HEADING_RE.finditer(text):
        end = heading.end()
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        if heading.group().rstrip().endswith(":") and not text[end:line_end].strip():
            at = line_end + 1
            while (
                at < len(text)
                and (line := _URINE_LINE_RE.match(text, at)) is not None
                and line.group().strip()
            ):
                at = line.end()
            regions.append((end, at))
            continue
        stops = [i for i in (text.find(". ", end), text.find(";", end), line_end) if i >= 0]
        regions.append((end, min(stops)))
    return regions


def _urine_mentions(text: str, found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """In a urinalysis, glucose, white and red cells are the urine's, and pH is the urine's pH."""
    regions = _urine_regions(text)
    if not regions:
        return found

    def inside(start: int) -> bool:
        return any(a <= start < b for a, b in regions)

    out = [(a, b, _URINE_VARIABLE.get(name, name) if inside(a) else name) for a, b, name in found]
    out += [(m.start(), m.end(), "urine_ph") for m in _PH_RE.finditer(text) if inside(m.start())]
    return out


def _mentions(text: str, catalogue: Catalogue, spanish: bool) -> list[tuple[int, int, str]]:
    folded, cased = _names_re()
    found: list[tuple[int, int, str]] = []
    for m in folded.finditer(text):
        found.append((m.start(), m.end(), _letter_names()[_key(m.group(0))]))
    for m in cased.finditer(text):
        if m.group(0) in _SPANISH_ONLY and not spanish:
            continue
        name = _CASED_NAMES[m.group(0)]
        if len(m.group(0)) == 1 and not _SINGLE_LETTER_VALUE_RE.match(text, m.end()):
            continue
        found.append((m.start(), m.end(), name))
    taken = [(a, b) for a, b, _ in found]
    for c in catalogue.find(text):
        # a longer catalogue name holding a letter's word wins: "leucocitos en efluente"
        if not any(a < c.end and c.start < b and not (c.start <= a and b <= c.end) for a, b in taken):
            found.append((c.start, c.end, c.name))
    found = _urine_mentions(text, found)
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    kept: list[tuple[int, int, str]] = []
    for mention in found:
        if kept and mention[0] < kept[-1][1]:
            continue
        kept.append(mention)
    return kept


class _Reader:
    def __init__(self, text: str, out: Parse, spanish: bool) -> None:
        self.text, self.out, self.spanish = text, out, spanish
        self.catalogue = load_catalogue()
        self.items: list[dict[str, Any]] = []
        self.spans: list[tuple[int, int]] = []

    def add(
        self,
        name: str,
        value: float,
        unit: str | None,
        start: int,
        end: int,
        shown: tuple[int, int] | None = None,
    ) -> None:
        """``text[start:end]`` reads ``name``'s value, unless some of it was read already; the
        evidence shown is ``shown`` if given (one statement naming several values)."""
        if any(a < end and start < b for a, b in self.spans):
            return
        variable = self.catalogue[name]
        unit = re.sub(r"(?<=\d),(?=\d)", ".", " ".join((unit or "").split()).rstrip(".,;)")) or None
        while end > start and self.text[end - 1] in ".,;":
            end -= 1
        if unit and (unit.lower() in _UNIT_WORDS or re.match(r"x(?!\s*10)", unit.lower())):
            unit = None
        if not _plausible(variable, value, unit):
            return
        label = variable.display if self.catalogue.lookup(variable.display) is variable else variable.name
        item: dict[str, Any] = {"name": label, "value": value}
        if unit:
            item["unit"] = unit
        self.items.append(item)
        self.spans.append((start, end))
        first, last = shown or (start, end)
        self.out.evidence.append(Evidence("measurements", self.text[first:last], first, last))

    def add_trend(self, name: str, first_value: float, unit: str | None, end: int) -> None:
        """After a value: "(baseline 1.2)", "(basal 1,1)", "(was 0.4 g/g …)" add the earlier value
        after it; "-> 2.7", "to 44" make the later value the current one, first in the list."""
        later = _LATER_RE.match(self.text, end)
        if later is not None and (number := self.value(later.group("value"))) is not None:
            variable = self.catalogue[name]
            written = " ".join((later.group("unit") or "").split()).rstrip(".,;)")
            if written.lower() in _UNIT_WORDS:
                written = ""
            if _plausible(variable, number, written or unit):
                current = dict(self.items[-1], value=number)
                if written and not unit:
                    # "creatinine 1.4 -> 2.7 mg/dL": the unit written once is both values'
                    current["unit"] = self.items[-1]["unit"] = written
                self.items.insert(len(self.items) - 1, current)
                self._extend_evidence(later.end())
            return
        earlier = _EARLIER_RE.match(self.text, end)
        if earlier is not None and (number := self.value(earlier.group("value"))) is not None:
            self.items.append(dict(self.items[-1], value=number))
            self._extend_evidence(earlier.end())

    def _extend_evidence(self, end: int) -> None:
        """The words shown for the last value reach its trend: "eGFR has fallen from 61 to 44 ml/min"."""
        last = self.out.evidence[-1]
        stop = end
        while stop > last.end and self.text[stop - 1] in ".,;) ":
            stop -= 1
        shown = self.text[last.start : stop]
        if shown.count("(") > shown.count(")") and self.text[stop : stop + 1] == ")":
            stop += 1  # "Cr 3,2 mg/dl (basal 1,1)"
        self.out.evidence[-1] = replace(last, text=self.text[last.start : stop], end=stop)
        self.spans[-1] = (self.spans[-1][0], max(self.spans[-1][1], stop))

    def value(self, written: str) -> float | None:
        try:
            return parse_value(written, self.spanish)
        except ValueError:
            return None


def read_measurements(text: str, out: Parse, spanish: bool, mentions: Sequence[Mention] = ()) -> None:
    """The measurements of ``text``; ``mentions`` are the vocabulary's concepts in it (a value
    after a drug's name is a dose, after a condition's its stage)."""
    reader = _Reader(text, out, spanish)
    _read_respectively(reader)
    for m in _BP_RE.finditer(text):
        systolic, diastolic = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(5))
        reader.add("sbp", float(systolic), "mmHg", m.start(), m.end())
        reader.spans.pop()
        reader.add("dbp", float(diastolic), "mmHg", m.start(), m.end())
    for m in _FINDING_VALUE_RE.finditer(text):
        number = reader.value(m.group("value"))
        if number is not None:
            name = _FINDING_VARIABLE[m.group("finding").lower()]
            unit = m.group("unit").strip().rstrip(".,;") or None
            if m.group("link") != "(" and unit and reader.catalogue[name].convert(number, unit) is None:
                continue  # "tachycardia of 2 weeks": after a word, the value needs its variable's unit
            reader.add(name, number, unit, m.start(), m.end())
    for m in _ROMAN_CLASS_RE.finditer(text):
        reader.add("nyha", float(_ROMAN[m.group("roman").lower()]), None, m.start(), m.end())
    for m in _VALUE_BEFORE_RE.finditer(text):
        if m.group("py"):
            number = reader.value(m.group("py"))
            if number is not None:
                reader.add("pack_years", number, None, m.start(), m.end())
        elif m.group("feet"):
            inches = 12 * int(m.group("feet")) + int(m.group("inches"))
            reader.add("height", round(inches * 2.54, 1), "cm", m.start(), m.end())
        elif m.group("cig"):
            if (number := reader.value(m.group("cig"))) is not None:
                reader.add("cigarettes_per_day", number, None, m.start(), m.end())
        elif written := m.group("ga") or m.group("ga_es"):
            name = "gestational_age"
            if _BORN_AT_RE.search(text, max(0, m.start() - 24), m.start()):
                name = "gestational_age_at_birth"  # "born at 38 weeks gestation"
            if (number := reader.value(written)) is not None:
                reader.add(name, number, "weeks", m.start(), m.end())
        elif written := m.group("born") or m.group("born_es") or m.group("weeker"):
            reader.add("gestational_age_at_birth", float(written), "weeks", m.start(), m.end())
        elif (number := reader.value(m.group("value"))) is not None:
            if modifiers(text, [m.span()])[0].family:
                continue  # "her mother and father are 170 cm and 181 cm tall"
            reader.add("height", number, m.group("unit"), m.start(), m.end())
    for m in _WEIGHT_CHANGE_RE.finditer(text):
        gained = bool(m.group("gained")) or m.group("change") == "gain"
        written, unit = (
            (m.group("value"), m.group("unit"))
            if m.group("value")
            else (m.group("before"), m.group("unit_before"))
        )
        if (number := reader.value(written)) is not None:
            unit = unit.lstrip("-").lower().replace("kilos", "kg").replace("kilo", "kg")
            reader.add("weight_gain" if gained else "weight_loss", number, unit, m.start(), m.end())
    for m in _PER_FIELD_RE.finditer(text):
        reader.add("urine_rbc", float(m.group("value")), "/hpf", m.start(), m.end())
    for m in _CHILD_PUGH_RE.finditer(text):
        reader.add("child_pugh", float(m.group("value")), None, m.start(), m.end())
    for m in _PAIN_SCORE_RE.finditer(text):
        written = m.group("value") or m.group("before")
        reader.add(
            "pain_nrs", float(written), None, m.start("value") if m.group("value") else m.start(), m.end()
        )
    _read_lesion_sizes(reader)
    mentions_of_names = _mentions(text, reader.catalogue, spanish)
    claimed: set[tuple[int, int, str]] = set()
    for m in _PERCENT_BEFORE_RE.finditer(text):
        named = next((x for x in mentions_of_names if x[0] == m.end()), None)
        owner = next((x for x in mentions_of_names if _LINK_RE.fullmatch(text, x[1], m.start())), None)
        if owner is not None and owner not in claimed:
            continue  # "Hct 31% WBC 12.0": the share is the hematocrit's, written before the next name
        if named is not None and reader.catalogue[named[2]].kind == "lab":
            # "85% neutrophils" is a share of the white cells, not the absolute count (ANC)
            name = _SHARE_OF.get(named[2], named[2])
            if (share := reader.value(m.group("value"))) is not None:
                reader.add(name, share, "%", m.start(), named[1])
            claimed.add(named)  # "91% HbS 6% HbF": HbS has its value, the next share is HbF's
    starts = {start for start, _, _ in mentions_of_names}
    for start, end, name in mentions_of_names:
        if name == "age" or _NOT_HERS_BEFORE_RE.search(text, max(0, start - 16), start):
            continue  # "fundal height 32 cm", "fetal heart rate 150" are not hers
        after = _VALUE_AFTER_RE.match(text, end)
        if after is None or "\n" in text[end : after.start("value")]:
            continue
        if text.startswith("+", after.end("value")):
            continue  # "urine protein 2+": a dipstick's grade, no amount
        if name in ("sbp", "dbp") and after.group("second"):
            continue  # "systolic blood pressure 120/80" is the pair read above
        number = reader.value(after.group("value"))
        if number is not None and after.group("sign") and reader.catalogue[name].valid_range[0] < 0:
            number = -number  # "T-score of -3.1"; a dash before a value that cannot be negative is no sign
        unit, value_end = after.group("unit"), after.end()
        if name == "temperature" and not unit and number is not None and 90 <= number <= 110:
            unit = "°F"  # "T 101.3": a temperature written without its unit, in Fahrenheit
        if name == "upcr" and text[start:end] == "PCR" and unit and re.match(r"\s*mg/d?l\b", unit, re.I):
            name = "crp"  # "PCR 45 mg/l" is a C-reactive protein (Spanish), not a protein:creatinine ratio
        if unit and unit.strip() == "%" and name in _SHARE_OF:
            name = _SHARE_OF[name]  # "neutrophils 90%"
        first = _NON_BLANK_RE.search(text, after.start("unit")) if unit else None
        if unit and "/" not in unit and first is not None and first.start() in starts:
            unit, value_end = None, after.end("value")  # "WBC 12.0 Plt 150": the next name is no unit
        if end - start == 1 and unit and "/" in unit and reader.catalogue[name].convert(1.0, unit) is None:
            continue  # "P: 4.5 mg/dl" is a phosphorus, no pulse: a single letter's unit must be its own
        if number is not None:
            before = len(reader.items)
            if name in _VOLUME_OF and unit and _LITRES_RE.fullmatch(unit):
                name = _VOLUME_OF[name]  # "FEV1 1.6 L" is the volume, not the share of predicted
            reader.add(name, number, unit, start, value_end)
            if len(reader.items) > before:
                reader.add_trend(name, number, unit, value_end)
                if name in _VOLUME_OF.values():
                    _read_percent_predicted(reader, name, value_end)
    _read_other_values(reader, mentions)
    if reader.items:
        out.patient["measurements"] = reader.items


def _read_percent_predicted(reader: _Reader, volume: str, end: int) -> None:
    """After "FEV1 1.6 L": ", 46% pred" is FEV1 as a share of predicted."""
    m = _PERCENT_PREDICTED_RE.match(reader.text, end)
    if m is not None and (number := reader.value(m.group("value"))) is not None:
        share = next(name for name, litres in _VOLUME_OF.items() if litres == volume)
        reader.add(share, number, "%", m.start("value"), m.end())


def _read_lesion_sizes(reader: _Reader) -> None:
    """A mass's, nodule's or stone's size, its largest dimension ("9.5 x 7.5 x 6.0-cm … mass": 9.5
    cm); not a relative's, not one denied ("no mass larger than 1 cm")."""
    for m in _LESION_SIZE_RE.finditer(reader.text):
        size, unit = (
            (m.group("size"), m.group("unit"))
            if m.group("size")
            else (m.group("size_after"), m.group("unit_after"))
        )
        values = [reader.value(x) for x in re.split(r"\s*(?:x|×|by)\s*", size, flags=re.I)]
        if any(v is None for v in values):
            continue
        context = modifiers(reader.text, [m.span()])[0]
        if context.family or context.negated:
            continue
        reader.add("lesion_size", max(v for v in values if v is not None), unit, m.start(), m.end())


def _read_respectively(reader: _Reader) -> None:
    """In "LDL-C and HDL-C levels were 545 and 53 mg/dL, respectively" each name has its own value,
    the unit written once after the last applying to all that have none."""
    text = reader.text
    # Only the sentence before each "respectively" can hold its statement: the pattern, tried at
    # every place of a long note, cost a third of the reading.
    for word in _RESPECTIVELY_WORD_RE.finditer(text):
        at = word.start()
        start = max(0, at - 400, *(text.rfind(stop, 0, at) + len(stop) for stop in (". ", ";", "\n")))
        m = _RESPECTIVELY_RE.search(text, start, word.end())
        if m is None:
            continue
        offset = m.start("names")
        names = [x for x in _mentions(m.group("names"), reader.catalogue, reader.spanish) if x[2] != "age"]
        values = list(_RESPECTIVE_VALUE_RE.finditer(m.group("values")))
        if len(names) < 2 or len(names) != len(values):
            continue
        shared = values[-1].group("unit")
        if any(
            (unit := value.group("unit") or shared) and reader.catalogue[name].convert(1.0, unit) is None
            for (_, _, name), value in zip(names, values, strict=True)
        ):
            # "peak-systolic and end-diastolic velocity … 208.5 cm/s and 54.5 cm/s": no pressures,
            # and no value of the statement is read apart from its name
            reader.spans.append(m.span())
            continue
        for (start, end, name), value in zip(names, values, strict=True):
            number = reader.value(value.group("number"))
            if number is None:
                continue
            shown = (offset + names[0][0], m.end())
            reader.add(name, number, value.group("unit") or shared, offset + start, offset + end, shown=shown)


def _read_other_values(reader: _Reader, mentions: Sequence[Mention]) -> None:
    text = reader.text
    for candidate in _candidates(text):
        spans = [(w.group(), candidate.name_start + w.start()) for w in re.finditer(r"\S+", candidate.name)]
        while len(spans) > 1 and spans[-1][0].lower() in _LINK_WORDS | _STATE_WORDS:
            spans.pop()  # "Vancomycin trough was 25 µg/mL", "IgG4 was elevated at 450 mg/dL"
        breaks = [i for i, (w, _) in enumerate(spans) if w.lower() in _BREAK_WORDS]
        if breaks:
            spans = spans[breaks[-1] + 1 :]
        while spans and spans[0][0].lower() in _LEADING_WORDS:
            spans.pop(0)
        while len(spans) > 1 and spans[-1][0].lower() in _TRAILING_WORDS:
            spans.pop()
        if re.match(r"[.,]?\d*\s*/\s*\d", text[candidate.end :]) or text.startswith("+", candidate.end):
            continue  # "ABG: 7.30/50/60" is three values in a row, "protein 2+" a dipstick's grade
        if not spans or re.fullmatch(r"(?:19|20)\d\d|\d{5}", candidate.value):
            continue  # a year ("ESKD 2021") or a ZIP code ("GA 30310") is no value
        name = " ".join(w for w, _ in spans)
        if sum(c.isalpha() for c in name) < 2 and name not in _CASED_NAMES:
            continue  # "BP 100s/60s" left "s/" as a name
        start, end = spans[0][1], candidate.end
        if name.lower() in _NOT_MEASURES or any(a < end and start < b for a, b in reader.spans):
            continue
        if (
            name.lower() in ("direct", "indirect", "conjugated", "unconjugated")
            and "bilirubin" in text[max(0, start - 60) : start].lower()
        ):
            # "Total bilirubin 3.2 mg/dL, Direct 2.5 mg/dL"
            fraction = (
                "indirect_bilirubin" if name.lower() in ("indirect", "unconjugated") else "direct_bilirubin"
            )
            if (number := reader.value(candidate.value)) is not None:
                reader.add(fraction, number, candidate.unit, start, end)
            continue
        letter_name = _CASED_NAMES.get(name) or _letter_names().get(_key(name))
        if letter_name is not None:
            # a letter's shorthand with a word between it and its value: "K actual 5,2 mmol/l"
            if name in _SPANISH_ONLY and not reader.spanish:
                continue  # "FA" is atrial fibrillation or folic acid in an English letter
            number = reader.value(candidate.value)
            variable = reader.catalogue[letter_name]
            own_unit = candidate.unit is None or variable.convert(1.0, candidate.unit) is not None
            if number is not None and (len(name) > 2 or own_unit) and (len(name) > 1 or candidate.unit):
                reader.add(letter_name, number, candidate.unit, start, end)
            continue
        if reader.catalogue.lookup(name) is not None:
            continue  # a catalogue name the main reader did not take: not a value for it
        near = [c for c in mentions if c.start < candidate.name_end and start < c.end]
        drug = any(c.concept.kind in TREATMENT_KINDS and c.concept.kind != "test" for c in near)
        measured = _CONCENTRATION_RE.search(candidate.unit or "") or _LEVEL_WORD_RE.search(
            text, candidate.name_start, candidate.end
        )
        if drug and not measured:
            continue  # "Prednisone: 20 mg" is a dose; "tacrolimus trough 6.2 ng/mL" a level
        if any(c.concept.is_condition and c.end >= candidate.name_end for c in near):
            continue  # "CKD 3", "stage IV NSCLC 2": a condition's stage or grade
        lab_line = candidate.from_lab_line and sum(c.isupper() for c in name) >= 2
        if not candidate.unit and not lab_line and not _SCALE_NAME_RE.fullmatch(name):
            continue  # a value without a unit needs a lab line's name or a scale's
        if re.match(r"[\s-]*(?:years?|yrs?|yo|y/o|a[ñn]os)\b", text[end:]):
            continue
        number = reader.value(candidate.value)
        if number is None:
            continue
        item: dict[str, Any] = {"name": name, "value": number}
        if candidate.unit:
            item["unit"] = candidate.unit
        reader.items.append(item)
        reader.spans.append((start, end))
        reader.out.evidence.append(Evidence("measurements", text[start:end], start, end))
