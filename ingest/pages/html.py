"""A trial page as HTML → the section model (:class:`ingest.pages.model.Page`).

Sites that republish ClinicalTrials.gov records mark a trial up with headings
(``h1`` title, a heading per section), lists (criteria, contacts, arms) and
definition lists (participation requirements, time frame, sponsors). The
reader walks the document in order and turns each innermost block into an
entry, exactly as the text reader turns each line into one, so both
renderings of a page give the same model. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from ingest.pages.model import (
    NCT_RE,
    OVERVIEW,
    SECTIONS,
    SOURCED_FROM_RE,
    Entry,
    Page,
    fold_label,
    line_entry,
)

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset(
    {
        *_HEADINGS,
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "td",
        "th",
        "address",
        "blockquote",
        "pre",
        "aside",
        "figure",
    }
)
# Marks a <br> in extracted text (source newlines are mere whitespace in HTML).
_BREAK = "\ue000"
# Page furniture that never holds trial facts.
_NOISE = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "form",
    "iframe",
    "svg",
    "button",
)


def read_page_html(html: str | bytes) -> Page:
    """Split an HTML page into its title and sections of entries."""
    soup = BeautifulSoup(html, "lxml")
    root: Tag = soup.body or soup
    page = Page()
    page.sourced_from_registry = bool(SOURCED_FROM_RE.search(root.get_text(" ")))
    for tag in root(_NOISE):
        tag.decompose()
    # The trial's title is the page's first <h1>; a page without one falls back to <title>.
    h1 = root.find("h1")
    if isinstance(h1, Tag):
        page.title = " ".join(h1.get_text(" ").split()) or None
    elif soup.title is not None:
        page.title = " ".join(soup.title.get_text(" ").split()) or None
    _Reader(page, h1 if isinstance(h1, Tag) else None).visit(root)
    return page


def _lines(tag: Tag) -> list[str]:
    """The tag's text, one line per ``<br>``-separated run, whitespace collapsed."""
    for br in tag.find_all("br"):
        br.replace_with(_BREAK)
    text = tag.get_text(" ")
    return [" ".join(part.split()) for part in text.split(_BREAK) if part.strip()]


def _is_leaf(tag: Tag) -> bool:
    return not any(isinstance(d, Tag) and d.name in _BLOCKS for d in tag.descendants)


class _Reader:
    def __init__(self, page: Page, title: Tag | None) -> None:
        self.page = page
        self.title = title
        self.section = OVERVIEW

    def add(self, entry: Entry) -> None:
        if SOURCED_FROM_RE.search(entry.line):
            return
        self.page.add(self.section, entry)

    def links(self, tag: Tag) -> None:
        """NCT ids in links of the trial's own content ("View on ClinicalTrials.gov")."""
        if self.section == "similar":
            return
        anchors = [tag] if tag.name == "a" else tag.find_all("a", href=True)
        for anchor in anchors:
            for nct_id in NCT_RE.findall(str(anchor.get("href", ""))):
                if nct_id not in self.page.nct_ids:
                    self.page.nct_ids.append(nct_id)

    def visit(self, tag: Tag) -> None:
        for child in self._children(tag):
            if isinstance(child, str):
                self.add(line_entry(" ".join(child.split())))
                continue
            name = child.name
            if name in _HEADINGS:
                self.heading(child)
            elif name == "dl":
                self.definitions(child)
            elif name in _BLOCKS and not _is_leaf(child):
                self.visit(child)
            else:
                self.leaf(child)

    def _children(self, tag: Tag) -> Iterator[Tag | str]:
        """Child tags, and loose text runs between blocks (text a container holds directly)."""
        for child in tag.children:
            if isinstance(child, Tag):
                yield child
            elif type(child) is NavigableString and child.strip():  # not a comment or CDATA
                yield str(child)

    def heading(self, tag: Tag) -> None:
        text = " ".join(tag.get_text(" ").split())
        if not text:
            return
        if tag is self.title:
            return
        key = SECTIONS.get(fold_label(text))
        if key is not None and not text.endswith("?"):
            self.section = key
            self.page.sections.setdefault(key, [])
        elif tag.name == "h2":
            self.section = "other"  # a section the reader does not know: kept apart
        else:
            self.add(Entry("sub", text))
        self.links(tag)

    def definitions(self, dl: Tag) -> None:
        label = ""
        for item in dl.find_all(["dt", "dd"]):
            if item.find_parent("dl") is not dl:
                continue  # a nested list is read with its own <dd>
            if item.name == "dt":
                label = " ".join(item.get_text(" ").split())
                continue
            self.links(item)
            if _is_leaf(item):
                self.add(Entry.pair(label, " ".join(_lines(item))))
            else:
                # "Collaborators" followed by a list: the label, then its items.
                self.add(Entry.pair(label, ""))
                self.visit(item)

    def leaf(self, tag: Tag) -> None:
        self.links(tag)
        lines = _lines(tag)
        if not lines:
            return
        if tag.name == "li":
            self.add(Entry("item", " ".join(lines)))
            return
        for line in lines:
            self.add(line_entry(line))
