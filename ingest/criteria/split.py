"""Eligibility-criteria text → ordered items, each inclusion or exclusion (no rules yet).

Two layouts reach us:

* API v2 markdown: one logical line per item, ``*``/``1.`` markers, sub-lists
  indented under their parent, ``\\>``-style escapes;
* the pre-2017 legacy layout (XML ``textblock``, AACT): everything indented by
  8+ spaces, ``-  `` bullets at column 10 and lines hard-wrapped near column 100
  (continuations indented to the text column), or bare paragraphs separated by
  blank lines (old NIH records, e.g. NCT00001676).

The splitter tells them apart by indentation and then groups lines the same
way for both: a marker starts an item unless it is indented deeper than the
current item (then it is a sub-item kept with its parent, e.g. "at least one of
the following:"); a wrapped line continues the item it belongs to; a blank
line ends a plain paragraph. Headings set the section and are kept on the items
as ``heading``, so every non-blank source line ends up in an item's ``text`` or
``heading``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_MARKER_RE = re.compile(
    r"""(?P<marker>
        [*•·●▪◦○■□➢►‣⁃+–—](?=\s)
      | -(?=\s|[A-Z(])
      | o(?=[ \t]+\S)
      | \(?\d{1,2}[.)](?!\d)
      | \(?[a-zA-Z][.)](?=\s)
      | \(?(?:i{1,3}|iv|vi{0,3}|ix|x)[.)](?=\s)
      | [A-Z]{1,3}\d{1,3}:
    )[ \t]*""",
    re.VERBOSE,
)
_MARKER_FIRST = frozenset("*•·●▪◦○■□➢►‣⁃+–—-(")
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=|~^:])")
_EMPHASIS_RE = re.compile(r"^[*_#\s]+|[*_\s]+$")

_SECTION_WORD_RE = re.compile(
    r"\b(?P<kw>non[\s-]?inclusion|inclusion|inclusions|exclusion|exclusions|exclusionary|eligibility|ineligibility)\b",
    re.IGNORECASE,
)
_BLOCKING_RE = re.compile(
    r"\b(?:may|must|should|could|will|would|apply|applies|applied|not|meet|meeting|met|are|is|were|was|be|"
    r"allowed|if|who|which|that|have|has|had|based|listed|above|below|see|refer|per|any)\b",
    re.IGNORECASE,
)
_HEADING_PREFIX_RE = re.compile(
    r"^(?:key\s+|main\s+|major\s+|general\s+)?(?P<kw>inclusion|exclusion)\s+criteria\s*(?::|-|–|—)\s*(?=\S)",
    re.IGNORECASE,
)
_EXCLUSION_LEADIN_RE = re.compile(
    r"\b(?:excluded|exclusion|not\s+be\s+eligible|not\s+eligible|ineligible|must\s+not|should\s+not|"
    r"will\s+not\s+be\s+(?:included|enrolled)|cannot\s+(?:be\s+)?(?:included|enrolled|participate)|precluded|"
    r"disqualif\w*)\b",
    re.IGNORECASE,
)
_INCLUSION_LEADIN_RE = re.compile(
    r"\b(?:inclusion|included|eligible|eligibility|enrol(?:l)?ed|entry|enter|participate|"
    r"must\s+(?:meet|satisfy|fulfil|fulfill|have)|should\s+(?:meet|satisfy|fulfil|fulfill))\b",
    re.IGNORECASE,
)
_LEADIN_SCOPE_RE = re.compile(r"\b(?:following|criteria|conditions?)\b", re.IGNORECASE)
_DISJUNCTIVE_RE = re.compile(
    r"\b(?:at\s+least|any\s+one|one\s+or\s+more|one\s+of|either|two\s+of)\b", re.IGNORECASE
)
_OPEN_ENDINGS = frozenset(
    {
        "with",
        "of",
        "by",
        "as",
        "including",
        "include",
        "includes",
        "following",
        "either",
        "to",
        "for",
        "and",
        "or",
        "in",
    }
)
_DASHED_SUBHEADING_RE = re.compile(r"^-{2,}\s*[^-].*?-{2,}$")


@dataclass(frozen=True, slots=True)
class RawItem:
    """An item before rule extraction: its section, text, source span and heading."""

    section: str
    text: str
    span: tuple[int, int]
    heading: str | None


@dataclass(slots=True)
class _Line:
    start: int
    end: int
    indent: int
    marker: str | None
    content: str
    content_start: int


@dataclass(slots=True)
class _Open:
    indent: int
    content_col: int
    has_marker: bool
    start: int
    end: int
    section: str
    heading: str | None
    lines: list[str] = field(default_factory=list)


def unescape(text: str) -> str:
    r"""Remove the markdown backslash-escapes the registry adds (``\>`` → ``>``, ``\[`` → ``[``)."""
    return _ESCAPE_RE.sub(r"\1", text) if "\\" in text else text


def _width(prefix: str) -> int:
    return len(prefix.expandtabs(4))


def _scan(text: str) -> list[_Line | None]:
    out: list[_Line | None] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped:
            out.append(None)
        else:
            lead = len(line) - len(line.lstrip())
            indent = lead if "\t" not in line[:lead] else _width(line[:lead])
            rstripped = len(line.rstrip())
            first, second = line[lead], line[lead + 1 : lead + 2]
            maybe = (
                first in _MARKER_FIRST
                or first.isdigit()
                or second in (".", ")", " ", "\t")
                or (first.isupper() and ":" in line[lead : lead + 8])
            )
            m = _MARKER_RE.match(line, lead) if maybe else None
            marker = None
            content_start = lead
            if m and m.end() < rstripped:
                marker = m.group("marker")
                content_start = m.end()
            content = line[content_start:rstripped]
            out.append(_Line(pos + lead, pos + rstripped, indent, marker, content, pos + content_start))
        pos += len(raw)
    return out


def _section_of(words: str) -> str | None:
    kinds = {
        m.group("kw").lower().replace(" ", "").replace("-", "") for m in _SECTION_WORD_RE.finditer(words)
    }
    exclusion = {k for k in kinds if "exclu" in k or k.startswith("noninclu") or k == "ineligibility"}
    inclusion = {k for k in kinds if k not in exclusion}
    if exclusion and not inclusion:
        return "exclusion"
    if inclusion and not exclusion:
        return "inclusion"
    return None


def _keyword_heading(content: str) -> tuple[bool, str | None]:
    """Is this line a heading such as "Key Inclusion Criteria:"? And which section does it open?"""
    bare = _EMPHASIS_RE.sub("", unescape(content))
    if len(bare) > 90 or not _SECTION_WORD_RE.search(bare):
        return False, None
    words = bare.rstrip(":. ")
    if ":" in words:
        return False, None
    if _BLOCKING_RE.search(words) or (re.search(r"\d", words) and not re.match(r"^[IVX\d.]+\s", words)):
        return False, None
    if (
        not (bare.endswith(":") or re.search(r"\bcriteri(?:a|on)\b", bare, re.IGNORECASE))
        and len(words.split()) > 2
    ):
        return False, None
    if len(words.split()) > 10:
        return False, None
    return True, _section_of(words)


def _leadin_section(content: str) -> str | None:
    """A sentence that opens a list ("Patients with any of the following will be excluded:")."""
    bare = unescape(content).strip()
    if not bare.endswith(":") or len(bare) > 300:
        return None
    if not _LEADIN_SCOPE_RE.search(bare):
        return None
    if _EXCLUSION_LEADIN_RE.search(bare):
        return "exclusion"
    if _INCLUSION_LEADIN_RE.search(bare) and not _DISJUNCTIVE_RE.search(bare):
        return "inclusion"
    return None


def _is_subheading(line: _Line, following: _Line | None, wrapped: bool) -> bool:
    """A short label over a group of items ("Registration:", "--Prior/Concurrent Therapy--").

    In the legacy paragraph layout a mixed-case "Label:" line has no visible end
    of scope, so only dashed or upper-case labels count there.
    """
    bare = _EMPHASIS_RE.sub("", unescape(line.content))
    if _DASHED_SUBHEADING_RE.match(bare):
        return True
    if not bare.endswith(":") or re.search(r"\d", bare):
        return False
    words = bare.rstrip(":").split()
    if line.marker is not None or wrapped:
        return len(words) <= 4 and bare.rstrip(":").isupper()
    if following is not None and following.indent > line.indent:
        return False
    if _BLOCKING_RE.search(bare) or words[-1].lower() in _OPEN_ENDINGS:
        return False
    return len(words) <= 5


def _merge_wrapped(lines: list[_Line | None]) -> list[_Line | None]:
    """Re-join hard-wrapped legacy lines: a line with no marker that directly follows a
    non-blank line, and is indented at least as far as the line it continues, is part of it."""
    out: list[_Line | None] = []
    for line in lines:
        previous = out[-1] if out else None
        if (
            line is not None
            and previous is not None
            and line.marker is None
            and line.indent >= previous.indent
        ):
            previous.content = f"{previous.content} {line.content}"
            previous.end = line.end
            continue
        out.append(line)
    return out


def parse_items(text: str, *, section_hint: str | None = None) -> list[RawItem]:
    """Split criteria text into items (see the module docstring); rules are added by ``parse_criteria``."""
    lines = _scan(text)
    non_blank = [ln for ln in lines if ln is not None]
    wrapped = bool(non_blank) and sum(ln.indent >= 6 for ln in non_blank) >= 0.6 * len(non_blank)
    if wrapped:
        lines = _merge_wrapped(lines)
    section = section_hint if section_hint in ("inclusion", "exclusion") else "inclusion"
    section_heading: str | None = None
    sub_heading: str | None = None
    pending: list[str] = []
    items: list[RawItem] = []
    current: _Open | None = None
    after_blank = True

    def flush() -> None:
        nonlocal current
        if current is not None:
            items.append(
                RawItem(
                    current.section, "\n".join(current.lines), (current.start, current.end), current.heading
                )
            )
            current = None

    def carried() -> str | None:
        joined = "\n".join(h for h in (section_heading, sub_heading) if h)
        return joined or None

    def open_item(line: _Line, content: str, start: int, has_marker: bool) -> None:
        nonlocal current, pending
        flush()
        heading = "\n".join(pending) if pending else carried()
        pending = []
        col = line.indent + (start - line.start)
        current = _Open(line.indent, col, has_marker, start, line.end, section, heading, [unescape(content)])

    followers: list[_Line | None] = [None] * len(lines)
    upcoming: _Line | None = None
    for index in range(len(lines) - 1, -1, -1):
        followers[index] = upcoming
        if lines[index] is not None:
            upcoming = lines[index]
    for index, line in enumerate(lines):
        if line is None:
            after_blank = True
            continue
        following = followers[index]
        content = line.content
        low = content.lower()
        sectionish = "clu" in low or "eligib" in low
        colon = content.rstrip().endswith(":")
        is_heading, heading_section = _keyword_heading(content) if sectionish else (False, None)
        leadin = None if is_heading or not colon else _leadin_section(content)
        prefix = (
            _HEADING_PREFIX_RE.match(unescape(content))
            if sectionish and not (is_heading or leadin) and "criteria" in low
            else None
        )
        if prefix is not None:
            flush()
            section = "exclusion" if prefix.group("kw").lower() == "exclusion" else "inclusion"
            section_heading, sub_heading = prefix.group(0).strip(), None
            pending.append(section_heading)
            raw_offset = _raw_offset(content, prefix.end())
            open_item(line, unescape(content)[prefix.end() :], line.content_start + raw_offset, False)
            after_blank = False
            continue
        if is_heading or leadin is not None:
            flush()
            new_section = heading_section if is_heading else leadin
            heading_text = unescape(line.content).strip()
            if new_section is not None:
                section = new_section
                section_heading, sub_heading = heading_text, None
            else:
                sub_heading = heading_text
            pending.append(heading_text)
            after_blank = False
            continue
        if (colon or content.startswith("-")) and _is_subheading(line, following, wrapped):
            flush()
            sub_heading = unescape(line.content).strip()
            pending.append(sub_heading)
            after_blank = False
            continue
        if line.marker is not None:
            if current is not None and line.indent > current.indent:
                current.lines.append(f"{line.marker} {unescape(content)}")
                current.end = line.end
            else:
                open_item(line, content, line.content_start, True)
        elif current is None:
            open_item(line, content, line.content_start, False)
        elif (not after_blank and line.indent > current.indent) or (
            after_blank
            and current.has_marker
            and line.indent > current.indent
            and line.indent >= current.content_col
        ):
            current.lines.append(unescape(content))
            current.end = line.end
        else:
            open_item(line, content, line.content_start, False)
        after_blank = False
    flush()
    if pending:
        joined = "\n".join(pending)
        end = len(text.rstrip())
        items.append(RawItem(section, joined, (end, end), joined))
    return items


def _raw_offset(content: str, unescaped_offset: int) -> int:
    """Map an offset in ``unescape(content)`` back to ``content`` (escapes are one extra char each)."""
    if "\\" not in content:
        return unescaped_offset
    raw = 0
    seen = 0
    while seen < unescaped_offset and raw < len(content):
        if content[raw] == "\\" and _ESCAPE_RE.match(content, raw):
            raw += 2
        else:
            raw += 1
        seen += 1
    return raw
