"""Parse one legacy ``<clinical_study>`` XML record into a :class:`NormalizedTrial`.

The classic site's per-study XML and the retired ``AllPublicXML.zip`` follow
``public.xsd`` (https://clinicaltrials.gov/ct2/html/images/info/public.xsd):
human spellings ("Active, not recruiting", "Phase 1/Phase 2", "March 2019",
``type="Anticipated"``) that are mapped to the API v2 vocabulary here, so a
record reads the same whichever source it came from. Legacy XML has no
coordinates: its sites carry their address and ``geo_source=None`` (not yet
geocoded). Pure: no I/O.
"""

from __future__ import annotations

import re

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed (types-lxml)

from ingest.places.countries import country_code
from ingest.record import (
    SOURCE_XML,
    Arm,
    Condition,
    Contact,
    Intervention,
    NormalizedTrial,
    RecordError,
    SecondaryId,
    Site,
    Sponsor,
)
from ingest.registry_values import parse_healthy_volunteers, parse_phases, standard_ages, to_enum
from ingest.values import is_nct_id, parse_age, parse_human_date

# Entities are not resolved and nothing is fetched: a record is data, not a program.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
_DOWNLOAD_RE = re.compile(r"\bon\s+(?P<date>[A-Za-z]+\.?\s+(?:\d{1,2},?\s+)?\d{4})\s*$")
_LIST_MARKER_RE = re.compile(r"^(?:[-*•·o]|\d{1,2}[.)])\s")


def parse_xml_document(data: bytes) -> etree._Element:
    """The document's root element; :class:`RecordError` when the bytes are not XML."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RecordError(f"malformed XML: {exc}") from exc
    # Entities are never expanded (XXE, billion laughs): a record that uses one would be
    # stored with the text around it missing, so it is refused instead.
    for entity in root.iter(etree.Entity):
        raise RecordError(f"XML entity reference {entity.text} is not allowed (entities are not expanded)")
    return root


def get_xml_nct_id(root: etree._Element) -> str | None:
    value = root.findtext("id_info/nct_id")
    return value.strip() if value and value.strip() else None


def get_xml_aliases(root: etree._Element) -> list[str]:
    """``id_info/nct_alias``: older NCT ids merged into this record (their pages show it)."""
    return [a.text.strip() for a in root.findall("id_info/nct_alias") if a.text and a.text.strip()]


def normalize_textblock(text: str | None) -> str | None:
    """A hard-wrapped, indented ``textblock`` → paragraphs as API v2 gives them.

    Lines of a paragraph are joined with spaces, paragraphs with a blank line; a
    line that starts a list item keeps its own line.
    """
    if text is None or not text.strip():
        return None
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines: list[str] = []
        for raw in block.splitlines():
            line = " ".join(raw.split())
            if not line:
                continue
            if lines and not _LIST_MARKER_RE.match(line):
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) or None


class _Record:
    """Typed access to one ``<clinical_study>``, raising :class:`RecordError` naming the element."""

    def __init__(self, root: etree._Element, nct_id: str) -> None:
        self.root = root
        self.nct_id = nct_id

    def text(self, path: str, node: etree._Element | None = None) -> str | None:
        value = (self.root if node is None else node).findtext(path)
        return " ".join(value.split()) if value and value.strip() else None

    def texts(self, path: str, node: etree._Element | None = None) -> list[str]:
        found = (self.root if node is None else node).findall(path)
        return [" ".join(e.text.split()) for e in found if e.text and e.text.strip()]

    def enum(self, kind: str, path: str, node: etree._Element | None = None) -> str | None:
        return to_enum(kind, self.text(path, node), nct_id=self.nct_id, field=path)

    def date(self, path: str) -> tuple[str | None, str | None]:
        """A dated element → (partial ISO date, ACTUAL/ESTIMATED from its ``type``)."""
        node = self.root.find(path)
        if node is None or not node.text or not node.text.strip():
            return None, None
        date = parse_human_date(node.text.strip(), nct_id=self.nct_id, field=path)
        return date, to_enum("date_type", node.get("type"), nct_id=self.nct_id, field=f"{path}@type")

    def contact(self, node: etree._Element, role: str | None) -> Contact:
        parts = [self.text(p, node) for p in ("first_name", "middle_name", "last_name")]
        name = " ".join(p for p in parts if p) or None
        degrees = self.text("degrees", node)
        if name and degrees:
            name = f"{name}, {degrees}"
        return Contact(
            name=name,
            role=role,
            phone=self.text("phone", node),
            phone_ext=self.text("phone_ext", node),
            email=self.text("email", node),
        )


def parse_clinical_study(xml: bytes | etree._Element) -> NormalizedTrial:
    """Legacy ``<clinical_study>`` XML → normalized trial. Raises :class:`RecordError` on bad input."""
    root = parse_xml_document(xml) if isinstance(xml, bytes) else xml
    if root.tag != "clinical_study":
        raise RecordError(f"not a <clinical_study> record (root <{root.tag}>)")
    nct_id = get_xml_nct_id(root)
    if not is_nct_id(nct_id):
        raise RecordError(f"missing or malformed NCT id {nct_id!r}", field="id_info/nct_id")
    assert nct_id is not None
    r = _Record(root, nct_id)
    trial = NormalizedTrial(nct_id=nct_id, source=SOURCE_XML)
    _identification(r, trial)
    _status(r, trial)
    _design(r, trial)
    _conditions(r, trial)
    _arms(r, trial)
    _eligibility(r, trial)
    _locations(r, trial)
    trial.has_results = root.find("clinical_results") is not None
    return trial


def _identification(r: _Record, t: NormalizedTrial) -> None:
    t.org_study_id = r.text("id_info/org_study_id")
    t.secondary_ids = [SecondaryId(sid) for sid in r.texts("id_info/secondary_id")]
    t.brief_title = r.text("brief_title")
    t.official_title = r.text("official_title")
    t.acronym = r.text("acronym")
    lead = r.root.find("sponsors/lead_sponsor")
    if lead is not None and r.text("agency", lead):
        t.lead_sponsor = Sponsor(r.text("agency", lead) or "", r.enum("agency_class", "agency_class", lead))
    for node in r.root.findall("sponsors/collaborator"):
        name = r.text("agency", node)
        if name:
            t.collaborators.append(Sponsor(name, r.enum("agency_class", "agency_class", node)))
    t.brief_summary = normalize_textblock(r.root.findtext("brief_summary/textblock"))
    t.detailed_description = normalize_textblock(r.root.findtext("detailed_description/textblock"))
    t.keywords = r.texts("keyword")


def _status(r: _Record, t: NormalizedTrial) -> None:
    t.overall_status = r.enum("status", "overall_status")
    t.last_known_status = r.enum("status", "last_known_status")
    t.why_stopped = normalize_textblock(r.root.findtext("why_stopped"))
    t.start_date, t.start_date_type = r.date("start_date")
    t.primary_completion_date, t.primary_completion_date_type = r.date("primary_completion_date")
    t.completion_date, t.completion_date_type = r.date("completion_date")
    # Records before 2017 name the dates firstreceived_date / lastchanged_date.
    t.first_post_date, _ = r.date("study_first_posted")
    if t.first_post_date is None:
        t.first_post_date, _ = r.date("firstreceived_date")
    t.last_update_post_date, t.last_update_post_date_type = r.date("last_update_posted")
    if t.last_update_post_date is None:
        t.last_update_post_date, t.last_update_post_date_type = r.date("lastchanged_date")
    t.status_verified_date, _ = r.date("verification_date")
    t.version_date = _download_date(r)


def _download_date(r: _Record) -> str | None:
    """``required_header/download_date``: "ClinicalTrials.gov processed this data on March 15, 2019"."""
    text = r.text("required_header/download_date")
    if text is None:
        return None
    match = _DOWNLOAD_RE.search(text)
    if not match:
        raise RecordError(
            f"unreadable download date {text!r}", nct_id=r.nct_id, field="required_header/download_date"
        )
    return parse_human_date(match.group("date"), nct_id=r.nct_id, field="required_header/download_date")


def _design(r: _Record, t: NormalizedTrial) -> None:
    t.study_type = r.enum("study_type", "study_type")
    t.phases = parse_phases(r.text("phase"), nct_id=r.nct_id, field="phase")
    count = r.text("enrollment")
    if count is not None:
        if not count.isdigit():
            raise RecordError(f"enrollment is not a count: {count!r}", nct_id=r.nct_id, field="enrollment")
        t.enrollment = int(count)
        node = r.root.find("enrollment")
        assert node is not None
        t.enrollment_type = to_enum("date_type", node.get("type"), nct_id=r.nct_id, field="enrollment@type")


def _conditions(r: _Record, t: NormalizedTrial) -> None:
    # The same order as API v2: listed conditions, keywords, MeSH terms. Legacy XML
    # gives MeSH terms without their ids and without ancestors.
    t.conditions = [Condition(term, "listed") for term in r.texts("condition")]
    t.conditions += [Condition(term, "keyword") for term in t.keywords]
    t.conditions += [Condition(term, "mesh") for term in r.texts("condition_browse/mesh_term")]


def _arms(r: _Record, t: NormalizedTrial) -> None:
    for i, node in enumerate(r.root.findall("intervention")):
        path = f"intervention[{i + 1}]"
        t.interventions.append(
            Intervention(
                name=r.text("intervention_name", node) or "",
                type=to_enum(
                    "intervention_type",
                    r.text("intervention_type", node),
                    nct_id=r.nct_id,
                    field=f"{path}/intervention_type",
                ),
                description=normalize_textblock(node.findtext("description")),
                arm_group_labels=r.texts("arm_group_label", node),
                other_names=r.texts("other_name", node),
            )
        )
    for i, node in enumerate(r.root.findall("arm_group")):
        label = r.text("arm_group_label", node) or ""
        # API v2 names an arm's interventions "<Type>: <name>", the type as XML spells it.
        names = [
            f"{r.text('intervention_type', iv_node)}: {iv.name}"
            for iv_node, iv in zip(r.root.findall("intervention"), t.interventions, strict=True)
            if label in iv.arm_group_labels
        ]
        t.arms.append(
            Arm(
                label=label,
                type=to_enum(
                    "arm_group_type",
                    r.text("arm_group_type", node),
                    nct_id=r.nct_id,
                    field=f"arm_group[{i + 1}]/arm_group_type",
                ),
                description=normalize_textblock(node.findtext("description")),
                intervention_names=names,
            )
        )


def _eligibility(r: _Record, t: NormalizedTrial) -> None:
    # Kept verbatim, indentation and all: the criteria splitter reads the legacy layout.
    criteria = r.root.findtext("eligibility/criteria/textblock")
    t.eligibility_criteria = criteria if criteria and criteria.strip() else None
    t.sex = r.enum("sex", "eligibility/gender")
    t.minimum_age, t.minimum_age_days = parse_age(
        r.text("eligibility/minimum_age"), nct_id=r.nct_id, field="eligibility/minimum_age"
    )
    t.maximum_age, t.maximum_age_days = parse_age(
        r.text("eligibility/maximum_age"), nct_id=r.nct_id, field="eligibility/maximum_age"
    )
    if (
        t.minimum_age_days is not None
        and t.maximum_age_days is not None
        and t.minimum_age_days > t.maximum_age_days
    ):
        raise RecordError(
            f"minimum age {t.minimum_age} above maximum {t.maximum_age}",
            nct_id=r.nct_id,
            field="eligibility/minimum_age",
        )
    if r.root.find("eligibility") is not None:  # a withheld record states no eligibility at all
        t.std_ages = standard_ages(t.minimum_age_days, t.maximum_age_days)
    t.healthy_volunteers = parse_healthy_volunteers(
        r.text("eligibility/healthy_volunteers"),
        nct_id=r.nct_id,
        field="eligibility/healthy_volunteers",
    )


def _locations(r: _Record, t: NormalizedTrial) -> None:
    for tag in ("overall_contact", "overall_contact_backup"):
        node = r.root.find(tag)
        if node is not None:
            t.central_contacts.append(r.contact(node, "CONTACT"))
    for i, loc in enumerate(r.root.findall("location")):
        path = f"location[{i + 1}]"
        # API v2 lists a site's contacts first, then its investigators.
        contacts = [
            r.contact(node, "CONTACT")
            for tag in ("contact", "contact_backup")
            if (node := loc.find(tag)) is not None
        ]
        for j, node in enumerate(loc.findall("investigator")):
            role = to_enum(
                "contact_role",
                r.text("role", node),
                nct_id=r.nct_id,
                field=f"{path}/investigator[{j + 1}]/role",
            )
            contacts.append(r.contact(node, role))
        country = r.text("facility/address/country", loc)
        t.sites.append(
            Site(
                facility=r.text("facility/name", loc),
                city=r.text("facility/address/city", loc),
                state=r.text("facility/address/state", loc),
                zip=r.text("facility/address/zip", loc),
                country=country,
                country_code=country_code(country) if country else None,
                status=r.enum("status", "status", loc),
                contacts=contacts,
            )
        )
