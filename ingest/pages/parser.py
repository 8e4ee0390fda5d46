"""Trial pages sourced from ClinicalTrials.gov (HTML or plain text) → :class:`NormalizedTrial`.

The seed page (``tests/fixtures/seeds/000_7eec3db7379f51b9.txt``, NCT03673748)
shows the layout: a title; "Who is this study for?", "What treatments are
being studied?", status, study type and phase; SUMMARY; Eligibility
(participation requirements and bulleted criteria); Locations; Time Frame;
Participants; Treatments (arms); Sponsors. ``pages.text``/``pages.html`` read
either rendering into one section model; this module reads the facts from it
in the registry's vocabulary (RECRUITING, ALL, "18 Years", PHASE2,
INTERVENTIONAL), so matching treats a page like an API record. A page that
prints no NCT id gets a stable id from its content (``page_identity``). A
page that is not a trial page is refused with a reason. Pure.
"""

from __future__ import annotations

import re

from ingest.pages.html import read_page_html
from ingest.pages.identity import fold_title, page_trial_id
from ingest.pages.model import OVERVIEW, Entry, Page, fold_label, split_pair
from ingest.pages.sites import read_sites
from ingest.pages.text import read_page_text
from ingest.record import (
    SOURCE_PAGE,
    Arm,
    Condition,
    Intervention,
    NormalizedTrial,
    RecordError,
    Sponsor,
)
from ingest.registry_values import (
    is_enum,
    parse_healthy_volunteers,
    parse_phases,
    standard_ages,
    to_enum,
)
from ingest.values import parse_age, parse_human_date

# Where labelled facts are looked for, in order (the first mention wins).
_FACT_SECTIONS = (OVERVIEW, "eligibility", "time_frame", "participants", "sponsors", "other")
_TRIAL_SECTIONS = (
    "summary",
    "eligibility",
    "locations",
    "time_frame",
    "participants",
    "treatments",
    "sponsors",
)
_LABELS = {
    "status": ("status", "overall status", "recruitment status", "study status"),
    "study_type": ("study type",),
    "phase": ("study phase", "phase", "phases"),
    "sex": ("sex", "gender", "sexes eligible for study", "genders eligible for study"),
    "minimum_age": ("minimum age", "min age", "minimum age eligible"),
    "maximum_age": ("maximum age", "max age", "maximum age eligible"),
    "healthy_volunteers": ("healthy volunteers", "accepts healthy volunteers"),
    "condition": ("who is this study for", "condition", "conditions"),
    "treatment": ("what treatments are being studied", "treatment", "treatments"),
    "intervention_type": ("intervention type", "intervention types"),
}
_REQUIREMENTS = frozenset(
    {
        *_LABELS["sex"],
        *_LABELS["minimum_age"],
        *_LABELS["maximum_age"],
        *_LABELS["healthy_volunteers"],
        "view",
        "ages",
    }
)
_DATE_LABEL_RE = re.compile(
    r"^(?:(?P<qualifier>actual|estimated|anticipated|expected|target)\s+)?(?:study\s+)?"
    r"(?P<which>primary completion|completion|start)(?:\s+date)?$"
)
_ENROLLMENT_LABEL_RE = re.compile(
    r"^(?:(?P<qualifier>target|estimated|anticipated|expected|actual)\s+)?"
    r"(?:number of participants|enrollment|participants)$"
)
_POPULATION_RE = re.compile(
    r"^(?:adult |adolescent |pediatric |paediatric |older |elderly )?"
    r"(?:patients|people|persons|adults|children|women|men|participants|individuals|subjects|those)\s+"
    r"(?:with|who have|diagnosed with|suffering from|affected by)\s+",
    re.IGNORECASE,
)
# Corporate suffixes that follow a comma inside one organisation's name ("Pfizer, Inc.").
_NAME_SUFFIXES = frozenset(
    {"llc", "l.l.c.", "inc", "inc.", "ltd", "ltd.", "limited", "co.", "corp.", "corporation",
     "s.a.", "sa", "s.l.", "sl", "gmbh", "ag", "b.v.", "bv", "n.v.", "plc", "llp", "l.p.", "lp",
     "s.p.a.", "spa", "sas", "s.r.l.", "srl", "a/s", "ab", "oy", "k.k.", "pty ltd", "pvt. ltd."}
)  # fmt: skip


def parse_page_text(text: str) -> NormalizedTrial:
    """A page's plain-text rendering → normalized trial (RecordError if not a trial page)."""
    return normalize_page(read_page_text(text))


def parse_page_html(html: str | bytes) -> NormalizedTrial:
    """A page's HTML → normalized trial (RecordError if not a trial page)."""
    return normalize_page(read_page_html(html))


def refuse_page(page: Page) -> str | None:
    """Why a page is not a trial page, or None if it is one."""
    found = [key for key in _TRIAL_SECTIONS if page.section(key)]
    facts = _facts(page)
    stated = [k for k in ("status", "study_type", "phase") if k in facts]
    title = f" ({page.title!r})" if page.title else ""
    if not page.title:
        return "not a trial page: it has no title"
    if len(found) + (1 if stated else 0) < 2:
        return (
            f"not a trial page{title}: it has none of a trial's sections "
            "(summary, eligibility, locations, time frame, participants, treatments, sponsors)"
            if not found
            else f"not a trial page{title}: only a {found[0]} section"
        )
    return None


def normalize_page(page: Page) -> NormalizedTrial:
    """The section model of a page → normalized trial in the registry's vocabulary."""
    reason = refuse_page(page)
    if reason:
        raise RecordError(reason)
    nct_id = page.nct_ids[0] if len(page.nct_ids) == 1 else None
    trial = NormalizedTrial(nct_id=nct_id or "", source=SOURCE_PAGE)
    trial.official_title = page.title
    facts = _facts(page)
    trial.overall_status = to_enum("status", facts.get("status"), nct_id=nct_id, field=_field("status"))
    trial.study_type = to_enum(
        "study_type", facts.get("study_type"), nct_id=nct_id, field=_field("study type")
    )
    trial.phases = parse_phases(facts.get("phase"), nct_id=nct_id, field=_field("study phase"))
    _eligibility(page, facts, trial)
    _dates(facts, trial)
    _overview(facts, trial)
    trial.brief_summary = _prose(page.section("summary"))
    trial.arms, arm_interventions = _arms(page.section("treatments"))
    trial.interventions += [
        i for i in arm_interventions if i.name not in {x.name for x in trial.interventions}
    ]
    _sponsors(page.section("sponsors"), trial)
    trial.sites = read_sites(page.section("locations"))
    trial.nct_id = nct_id or page_trial_id(trial)
    return trial


def _field(label: str) -> str:
    """Names a page field in errors: ``page "Minimum Age"``."""
    return f"page {label!r}"


def _pairs(entries: list[Entry]) -> list[tuple[str, str, Entry]]:
    """(folded label, value, entry) of every labelled entry ("Sex: All", a <dt>/<dd>, a "Status: …" item)."""
    found: list[tuple[str, str, Entry]] = []
    for entry in entries:
        pair = (entry.label or "", entry.value) if entry.kind == "pair" else split_pair(entry.line)
        if pair is not None:
            found.append((fold_label(pair[0]), pair[1], entry))
    return found


def _facts(page: Page) -> dict[str, str]:
    """The page's labelled facts by kind (status, sex, minimum_age…); the first mention wins."""
    by_label = {label: kind for kind, labels in _LABELS.items() for label in labels}
    facts: dict[str, str] = {}
    for section in _FACT_SECTIONS:
        for label, value, _ in _pairs(page.section(section)):
            kind = by_label.get(label)
            if kind and value and kind not in facts:
                facts[kind] = value
            date = _DATE_LABEL_RE.match(label)
            if date and value and f"date:{label}" not in facts:
                facts[f"date:{label}"] = value
            if _ENROLLMENT_LABEL_RE.match(label) and value and "enrollment" not in facts:
                facts["enrollment"], facts["enrollment_label"] = value, label
    return facts


def _eligibility(page: Page, facts: dict[str, str], t: NormalizedTrial) -> None:
    t.sex = to_enum("sex", facts.get("sex"), nct_id=t.nct_id or None, field=_field("Sex"))
    t.minimum_age, t.minimum_age_days = parse_age(facts.get("minimum_age"), field=_field("Minimum Age"))
    t.maximum_age, t.maximum_age_days = parse_age(facts.get("maximum_age"), field=_field("Maximum Age"))
    if t.minimum_age is not None or t.maximum_age is not None:
        t.std_ages = standard_ages(t.minimum_age_days, t.maximum_age_days)
    t.healthy_volunteers = parse_healthy_volunteers(
        facts.get("healthy_volunteers"), field=_field("Healthy Volunteers")
    )
    t.eligibility_criteria = _criteria(page.section("eligibility"))


def _criteria(entries: list[Entry]) -> str | None:
    """The criteria as the registry writes them: "Inclusion Criteria:" and one "* " line per item.

    Items before any heading are inclusion criteria (the seed lists only those).
    """
    sections: list[tuple[str, list[str]]] = []
    started = False
    for entry in entries:
        key = fold_label(entry.line)
        if entry.kind in ("sub", "text") and key in ("inclusion criteria", "exclusion criteria"):
            sections.append((key.title(), []))
            started = True
            continue
        if entry.kind == "sub":
            continue
        pair = (entry.label, entry.value) if entry.kind == "pair" else split_pair(entry.line)
        if pair is not None and fold_label(pair[0] or "") in _REQUIREMENTS:
            continue
        if entry.kind != "item" and not started:
            continue
        if not sections:
            sections.append(("Inclusion Criteria", []))
        sections[-1][1].append(entry.line)
        started = True
    blocks = [f"{name}:\n\n" + "\n".join(f"* {item}" for item in items) for name, items in sections if items]
    return "\n\n".join(blocks) or None


def _dates(facts: dict[str, str], t: NormalizedTrial) -> None:
    for key, value in facts.items():
        if not key.startswith("date:"):
            continue
        match = _DATE_LABEL_RE.match(key[5:])
        assert match is not None
        qualifier, which = match.group("qualifier"), match.group("which")
        label = key[5:]
        date = parse_human_date(value, field=_field(label))
        kind = (
            to_enum("date_type", qualifier, field=_field(label))
            if qualifier in ("actual", "estimated", "anticipated")
            else None
        )
        if qualifier in ("expected", "target"):
            kind = "ESTIMATED"
        if which == "start" and t.start_date is None:
            t.start_date, t.start_date_type = date, kind
        elif which == "completion" and t.completion_date is None:
            t.completion_date, t.completion_date_type = date, kind
        elif which == "primary completion" and t.primary_completion_date is None:
            t.primary_completion_date, t.primary_completion_date_type = date, kind


def _overview(facts: dict[str, str], t: NormalizedTrial) -> None:
    if "enrollment" in facts:
        count = re.search(r"\d[\d,]*", facts["enrollment"])
        if count is None:
            raise RecordError(
                f"enrollment is not a count: {facts['enrollment']!r}", field=_field("participants")
            )
        t.enrollment = int(count.group().replace(",", ""))
        qualifier = _ENROLLMENT_LABEL_RE.match(facts["enrollment_label"])
        word = qualifier.group("qualifier") if qualifier else None
        # A target number of participants is what the registry calls ESTIMATED enrollment.
        t.enrollment_type = {"actual": "ACTUAL", None: None}.get(word, "ESTIMATED")
    condition = facts.get("condition")
    if condition:
        t.conditions.append(Condition(_POPULATION_RE.sub("", condition).strip(" ."), "listed"))
    treatment = facts.get("treatment")
    if treatment:
        kinds = [k.strip() for k in re.split(r"[,;/]", facts.get("intervention_type", "")) if k.strip()]
        kind = to_enum("intervention_type", kinds[0], field=_field("Intervention Type")) if kinds else None
        t.interventions.append(Intervention(name=treatment, type=kind))


def _prose(entries: list[Entry]) -> str | None:
    """Paragraphs of a text section: wrapped lines joined, paragraphs apart, items one a line."""
    paragraphs: list[str] = []
    previous: Entry | None = None
    for entry in entries:
        if entry.kind == "item":
            line = f"* {entry.line}"
            if previous is not None and previous.kind == "item":
                paragraphs[-1] += f"\n{line}"
            else:
                paragraphs.append(line)
        elif entry.para or not paragraphs or (previous is not None and previous.kind == "item"):
            paragraphs.append(entry.line)
        else:
            paragraphs[-1] += f" {entry.line}"
        previous = entry
    return "\n\n".join(paragraphs) or None


def _arms(entries: list[Entry]) -> tuple[list[Arm], list[Intervention]]:
    """Arms ("Experimental: <label>" then its description) and interventions ("Drug: <name>")."""
    arms: list[Arm] = []
    interventions: list[Intervention] = []
    described: list[list[Entry]] = []
    for entry in entries:
        pair = (entry.label or "", entry.value) if entry.kind == "pair" else split_pair(entry.line)
        if pair is not None and pair[1] and is_enum("arm_group_type", pair[0]):
            arms.append(Arm(label=pair[1], type=to_enum("arm_group_type", pair[0], field=_field(pair[0]))))
            described.append([])
        elif pair is not None and pair[1] and is_enum("intervention_type", pair[0]):
            kind = to_enum("intervention_type", pair[0], field=_field(pair[0]))
            interventions.append(Intervention(name=pair[1], type=kind))
            if arms:
                arms[-1].intervention_names.append(f"{pair[0]}: {pair[1]}")
                interventions[-1].arm_group_labels.append(arms[-1].label)
        elif arms:
            described[-1].append(entry)
    for arm, lines in zip(arms, described, strict=True):
        arm.description = _prose(lines)
    return arms, interventions


def _sponsors(entries: list[Entry], t: NormalizedTrial) -> None:
    """ "Leads: …" and "Collaborators: …" (a comma-separated line, or a label and a list)."""
    named: dict[str, list[str]] = {"lead": [], "collaborator": []}
    current: str | None = None
    for entry in entries:
        pair = (entry.label or "", entry.value) if entry.kind == "pair" else None
        if pair is None and entry.kind in ("sub", "text") and entry.line.rstrip().endswith(":"):
            pair = (entry.line, "")
        if entry.kind == "sub" and pair is None:
            pair = (entry.line, "")
        if pair is not None:
            label = fold_label(pair[0])
            current = (
                "lead"
                if label.startswith("lead") or label == "sponsor"
                else ("collaborator" if label.startswith("collaborator") else None)
            )
            if current and pair[1]:
                named[current] += _names(pair[1])
        elif entry.kind == "item" and current:
            named[current].append(entry.line)
    leads = named["lead"]
    t.lead_sponsor = Sponsor(leads[0]) if leads else None
    seen = {fold_title(n) for n in leads[:1]}
    for name in leads[1:] + named["collaborator"]:
        if fold_title(name) not in seen:
            seen.add(fold_title(name))
            t.collaborators.append(Sponsor(name))


def _names(text: str) -> list[str]:
    """ "A, B, Pfizer, Inc., C" → ["A", "B", "Pfizer, Inc.", "C"]."""
    names: list[str] = []
    for part in re.split(r"\s*[;,]\s*", text.strip()):
        if not part:
            continue
        if names and part.casefold() in _NAME_SUFFIXES:
            names[-1] = f"{names[-1]}, {part}"
        else:
            names.append(part)
    return names
