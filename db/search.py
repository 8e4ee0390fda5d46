"""Condition full-text search over trials: index maintenance and the condition queries.

The index holds, per trial, three folded texts: ``title`` (brief and official
titles, acronym), ``conditions`` (listed conditions and keywords) and ``mesh``
(MeSH terms and their ancestors, so "kidney disease" reaches lupus nephritis
trials through the ancestor "Kidney Diseases"). SQLite uses FTS5 with Porter
stemming; PostgreSQL a stored English ``tsvector`` (see migrations 0002 and 0004).

A query is a list of alternatives, each a list of words that must all occur:
``[["sle"], ["systemic", "lupus", "erythematosus"]]``. Expanding user words
into alternatives (abbreviations, synonyms) is ``matching``'s job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Column, Connection, MetaData, String, Table, Text, bindparam, text

from db.record import NormalizedTrial

# A word: letters and digits of any script (folded), never underscores or symbols, so
# "😀" or "—" alone holds none and Arabic or Greek words are words.
_WORD = re.compile(r"[^\W_]+")
# PostgreSQL's English stopwords (its ``english.stop``, Snowball's list): the 'english'
# text search configuration drops them from a query. They are dropped from queries on
# SQLite too (FTS5 has no stopwords), so both stores answer a query alike.
STOPWORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)

# Trial statuses under which a trial can take patients (RECRUITING), or soon/only on
# invitation (matching returns those flagged). A search document records whether its trial
# is open, so a condition's open trials are found without reading every matching trial.
OPEN_TRIAL_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")
# Site statuses that exclude a site: a recruiting trial may have closed sites. SQLite keeps
# the other sites of open trials in ``site_open`` (migration 0007, which lists them too).
CLOSED_SITE_STATUSES = (
    "ACTIVE_NOT_RECRUITING",
    "COMPLETED",
    "SUSPENDED",
    "TERMINATED",
    "WITHDRAWN",
    "TEMPORARILY_NOT_AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "UNKNOWN",
)

# One folded document per trial (migration 0004); the full-text index is built on it
# (SQLite: the FTS5 table ``trial_search``, kept in sync by triggers; PostgreSQL: the
# generated ``document`` tsvector column). Declared here for plain inserts and deletes.
SEARCH = Table(
    "trial_search_doc",
    MetaData(),
    Column("nct_id", String),
    Column("title", Text),
    Column("conditions", Text),
    Column("mesh", Text),
    Column("is_open", Boolean),  # overall_status in OPEN_TRIAL_STATUSES (migration 0007)
)


def fold(value: str) -> str:
    """Lower case without accents: "Río Hortega" → "rio hortega"."""
    if value.isascii():  # most registry text: NFKD leaves it as is and casefold is lower
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(value: str) -> list[str]:
    """The words of a text, folded."""
    return _WORD.findall(fold(value))


def query_words(value: str) -> list[str]:
    """The words a query searches on: folded, stopwords left out (as PostgreSQL does)."""
    return [w for w in words(value) if w not in STOPWORDS]


def search_row(t: NormalizedTrial) -> dict[str, Any]:
    by_kind: dict[str, list[str]] = {}
    for c in t.conditions:
        by_kind.setdefault(c.kind, []).append(c.term)
    titles = [t.brief_title, t.official_title, t.acronym]
    conditions = by_kind.get("listed", []) + by_kind.get("keyword", [])
    mesh = by_kind.get("mesh", []) + by_kind.get("mesh_ancestor", [])
    return {
        "nct_id": t.nct_id,
        "title": fold(" | ".join(x for x in titles if x)),
        "conditions": fold(" | ".join(conditions)),
        "mesh": fold(" | ".join(mesh)),
        "is_open": t.overall_status in OPEN_TRIAL_STATUSES,
    }


def _fts(open_only: bool) -> str:
    """SQLite's full-text index of every document, or of the open trials' (migration 0007)."""
    return "trial_search_open" if open_only else "trial_search"


def condition_filter_sql(dialect: str, trial_id: str = "s.nct_id", *, open_only: bool = False) -> str:
    """A WHERE clause true when the trial ``trial_id`` matches the condition query ``:q``
    (``open_only``: and is open), for candidates already narrowed by place to a few
    thousand sites.

    SQLite: the condition runs once, as the list of matching FTS rowids (no document is
    read: ~50 ms for 55,000 matches among 500,000 trials), and each candidate probes that
    list through its document's id. Not ``EXISTS (... MATCH ...)``: a correlated MATCH
    re-reads every query term's doclist per candidate (~2 ms each for "type 2 diabetes").
    PostgreSQL: the planner turns the EXISTS into a semi-join or an index probe by cost.
    """
    if dialect == "sqlite":
        fts = _fts(open_only)
        return (
            f"(SELECT d.id FROM trial_search_doc d WHERE d.nct_id = {trial_id}) "
            f"IN (SELECT rowid FROM {fts} WHERE {fts} MATCH :q)"
        )
    where = "d.is_open AND " if open_only else ""
    return (
        "EXISTS (SELECT 1 FROM trial_search_doc d "
        f"WHERE d.nct_id = {trial_id} AND {where}d.document @@ to_tsquery('english', :q))"
    )


def matching_ids_sql(dialect: str, *, open_only: bool = False) -> str:
    """A subquery of the nct_ids matching the condition query ``:q`` (the whole registry's;
    ``open_only``: the open trials', found without reading any trial row)."""
    if dialect == "sqlite":
        # Each match's nct_id from the narrow (id, nct_id) index of migration 0005, not from
        # its document row (which SQLite's planner would read: 2-3x slower for 55,000 matches).
        fts = _fts(open_only)
        return (
            f"SELECT d.nct_id FROM {fts} f JOIN trial_search_doc d INDEXED BY ix_trial_search_doc_id_nct "
            f"ON d.id = f.rowid WHERE {fts} MATCH :q"
        )
    where = "is_open AND " if open_only else ""
    return f"SELECT nct_id FROM trial_search_doc WHERE {where}document @@ to_tsquery('english', :q)"


def count_matching(conn: Connection, expression: str, cap: int, *, open_only: bool = False) -> int:
    """How many trials (``open_only``: open trials) match the condition query ``expression``,
    counting no further than ``cap`` + 1 (no document is read: SQLite walks the FTS
    doclists, PostgreSQL the GIN index)."""
    if conn.dialect.name == "sqlite":
        fts = _fts(open_only)
        inner = f"SELECT rowid FROM {fts} WHERE {fts} MATCH :q"
    else:
        where = "is_open AND " if open_only else ""
        inner = f"SELECT 1 FROM trial_search_doc WHERE {where}document @@ to_tsquery('english', :q)"
    sql = f"SELECT count(*) FROM ({inner} LIMIT {int(cap) + 1}) AS matched"
    return int(conn.execute(text(sql), {"q": expression}).scalar_one())


def estimate_matching(conn: Connection, expression: str, *, open_only: bool = False) -> float | None:
    """PostgreSQL's own estimate of how many trials (``open_only``: open trials) match the
    condition query ``expression``, from its statistics of the documents' lexemes: planning
    only, nothing is read (a count walks the GIN index's whole posting lists into a bitmap
    first, ~20-45 ms for a broad condition at registry scale, even to count to 5,000).
    None on SQLite, where a count stops at its cap."""
    if conn.dialect.name != "postgresql":
        return None
    where = "is_open AND " if open_only else ""
    plan = conn.execute(
        text(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM trial_search_doc "
            f"WHERE {where}document @@ to_tsquery('english', :q)"
        ),
        {"q": expression},
    ).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def _clean(alternatives: Sequence[Sequence[str]]) -> list[list[str]]:
    cleaned = [[w for word in alt for w in query_words(word)] for alt in alternatives]
    return [alt for alt in cleaned if alt]


def _fewest(alternatives: list[list[str]]) -> list[list[str]]:
    """The same alternatives without those another implies: words repeated in one are kept
    once, and one holding every word of another (and more) is dropped, since a document
    with all its words has all the other's. "lumbar disc degeneration" expands to ten
    alternatives; "disc degeneration" alone stands for four of them (a trial matches
    either way), and the full-text engine reads each alternative's doclists."""
    unique = [list(dict.fromkeys(alt)) for alt in alternatives]
    sets = [frozenset(alt) for alt in unique]
    kept = []
    for i, words_i in enumerate(sets):
        # Dropped when another is a proper subset, or the same words listed earlier.
        if not any(other < words_i or (other == words_i and j < i) for j, other in enumerate(sets) if j != i):
            kept.append(unique[i])
    return kept


def filter_expression(dialect: str, alternatives: Sequence[Sequence[str]]) -> str | None:
    """The engine's query string selecting the trials the alternatives match, or None when no
    word is left: ``match_expression`` with the alternatives others imply left out (the
    same trials, fewer doclists read). Not for ranking: bm25 and ts_rank score each term."""
    cleaned = _fewest(_clean(alternatives))
    return _expression(dialect, cleaned) if cleaned else None


def match_expression(dialect: str, alternatives: Sequence[Sequence[str]]) -> str | None:
    """The engine's query string for the alternatives, or None when no word is left."""
    cleaned = _clean(alternatives)
    if not cleaned:
        return None
    return _expression(dialect, cleaned)


def _expression(dialect: str, cleaned: list[list[str]]) -> str:
    if dialect == "sqlite":
        return " OR ".join("(" + " AND ".join(f'"{w}"' for w in alt) + ")" for alt in cleaned)
    return " | ".join("(" + " & ".join(alt) + ")" for alt in cleaned)


def matching_trials_sql(dialect: str) -> str:
    """SQL selecting ``nct_id, rank`` of trials matching ``:q`` (higher rank = more relevant)."""
    if dialect == "sqlite":
        # bm25 is lower-is-better; weights favour listed conditions, then titles, then MeSH.
        return (
            "SELECT d.nct_id, -bm25(trial_search, 2.0, 4.0, 1.0) AS rank "
            "FROM trial_search f JOIN trial_search_doc d ON d.id = f.rowid WHERE trial_search MATCH :q"
        )
    return (
        "SELECT nct_id, ts_rank(document, to_tsquery('english', :q)) AS rank "
        "FROM trial_search_doc WHERE document @@ to_tsquery('english', :q)"
    )


def find_trials(conn: Connection, alternatives: Sequence[Sequence[str]]) -> dict[str, float]:
    """nct_id → relevance of every trial matching any alternative."""
    expression = match_expression(conn.dialect.name, alternatives)
    if expression is None:
        return {}
    query = text(matching_trials_sql(conn.dialect.name)).bindparams(bindparam("q", expression))
    return {row.nct_id: float(row.rank) for row in conn.execute(query)}
