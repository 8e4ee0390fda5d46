"""A trial page's "Locations" section → sites with their contacts.

Pages group sites by country and print, per site, the facility, its
recruitment status and its city, then "Contact Information" with a primary
and a backup contact (name, email, phone), one per line in text and often on
one list item in HTML. No coordinates: sites are stored with their address and
``geo_source=None`` (not yet geocoded). Pure.
"""

from __future__ import annotations

import re

from ingest.pages.model import Entry, fold_label
from ingest.places.countries import country_code
from ingest.record import Contact, Site
from ingest.registry_values import is_enum, to_enum

_GROUPING = frozenset({"other locations", "nearest location", "all locations", "locations"})
_CONTACTS = frozenset({"contact information", "contacts", "contact info"})
_ROLE_RE = re.compile(
    r"^(?P<role>primary|backup|contact|principal investigator|sub-investigator|study director|study chair)"
    r"(?:\s+contact)?\b\s*[:\-–]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_RE = re.compile(
    r"(?P<phone>(?:\+|\(?\d)[\d\s().\-/]{5,}\d)(?:\s*(?:ext\.?|extension|x)\s*(?P<ext>\d{1,6}))?",
    re.IGNORECASE,
)
_FIELD_WORDS_RE = re.compile(r"\b(?:name|e-?mail|phone|tel(?:ephone)?|mobile)\s*:\s*", re.IGNORECASE)
_ROLES = {"primary": "CONTACT", "backup": "CONTACT", "contact": "CONTACT"}


def read_sites(entries: list[Entry]) -> list[Site]:
    """The sites of a locations section, in page order."""
    reader = _SiteReader()
    for entry in entries:
        reader.read(entry.line)
    return reader.sites


class _SiteReader:
    def __init__(self) -> None:
        self.sites: list[Site] = []
        self.country: str | None = None
        self.site: Site | None = None
        self.contact: Contact | None = None
        self.in_contacts = False

    def read(self, line: str) -> None:
        key = fold_label(line)
        if key in _GROUPING:
            return
        if key in _CONTACTS:
            self.in_contacts, self.contact = True, None
            return
        role = _ROLE_RE.match(line)
        if role and self.site is not None and (self.in_contacts or not role.group("rest")):
            self.start_contact(role.group("role"), role.group("rest"))
            return
        if self.in_contacts and self.contact is not None and _fill_contact(self.contact, line):
            return
        self.read_place(line)

    def start_contact(self, role: str, rest: str) -> None:
        assert self.site is not None
        name = role.casefold()
        self.contact = Contact(role=_ROLES.get(name) or to_enum("contact_role", role))
        self.site.contacts.append(self.contact)
        self.in_contacts = True
        if rest:
            _fill_contact(self.contact, rest)

    def read_place(self, line: str) -> None:
        site = self.site
        if site is not None and site.status is None and is_enum("status", line):
            site.status = to_enum("status", line)
            return
        complete = site is None or self.in_contacts or site.city is not None
        if complete and not any(ch.isdigit() for ch in line):
            code = country_code(line, allow_codes=False)
            if code is not None:
                self.country, self.site, self.contact, self.in_contacts = line, None, None, False
                return
        if complete:
            self.site = Site(
                facility=line,
                country=self.country,
                country_code=country_code(self.country) if self.country else None,
            )
            self.sites.append(self.site)
            self.contact, self.in_contacts = None, False
            return
        assert site is not None
        # "City" or "City, State Zip": the registry keeps them apart.
        parts = [p.strip() for p in line.split(",") if p.strip()]
        site.city = parts[0]
        rest = parts[1:]
        if rest and re.fullmatch(r"[\w\- ]*\d[\w\- ]*", rest[-1]) and " " not in rest[-1].strip():
            site.zip = rest.pop()
        elif rest:
            state_zip = re.fullmatch(r"(?P<state>.*?\D)\s+(?P<zip>\d[\d\-]{2,})", rest[-1])
            if state_zip:
                rest[-1] = state_zip.group("state")
                site.zip = state_zip.group("zip")
        if rest:
            site.state = ", ".join(rest)


def _fill_contact(contact: Contact, line: str) -> bool:
    """Read a contact's name, email and phone from a line; False when it holds none of them."""
    text = _FIELD_WORDS_RE.sub(" ", line)
    found = False
    for email in _EMAIL_RE.findall(text):
        if contact.email is None:
            contact.email = email
            found = True
        text = text.replace(email, " ")
    phone = _PHONE_RE.search(text)
    if phone and sum(ch.isdigit() for ch in phone.group("phone")) >= 6:
        if contact.phone is None:
            contact.phone = " ".join(phone.group("phone").split())
            contact.phone_ext = phone.group("ext")
            found = True
        text = text[: phone.start()] + " " + text[phone.end() :]
    name = " ".join(text.split()).strip(" ,;|-–")
    if name and contact.name is None:
        contact.name = name
        found = True
    return found
