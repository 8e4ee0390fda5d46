"""Build the shipped vocabulary (``data/vocabulary.json.gz``) from MeSH and the curated lists.

Run it where a copy of the MeSH tables is, e.g. the public repository
``jaytimm/mesh-resources`` (MeSH 2024: ``desc2024`` and ``mtrees2024`` as R data
frames, with every entry term and tree number)::

    git clone https://github.com/jaytimm/mesh-resources /tmp/mesh-resources
    pip install -e '.[vocabulary]'          # rdata reads the R files
    python -m ingest.vocabulary.build --source /tmp/mesh-resources

It reads ``data/data_mesh_thesaurus.rds`` (descriptor, term, lexical tag),
``data/data_mesh_trees.rds`` (tree numbers) and ``data/data_pharm_action.rds``
(a drug's pharmacological actions), keeps the descriptors a clinical text can name
(diseases, signs and symptoms, mental disorders, procedures, devices, drugs with a
pharmacological action and the drug classes, pregnancy, smoking and drinking), and
merges ``curated/``: clinical shorthand MeSH lacks (``extra_terms.tsv``), Spanish
names (``spanish_names.tsv``) and terms never to recognise (``excluded_terms.tsv``).
The output is the same bytes for the same inputs (sorted, no timestamp).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.vocabulary.concepts import (
    DATA_FILE,
    FLAG_ABBREVIATION,
    FLAG_ABSENT,
    FLAG_AMBIGUOUS,
    FLAG_SPANISH,
)
from ingest.vocabulary.normalize import fold, tokens

CURATED = Path(__file__).parent / "curated"
FORMAT = 1

# Tree prefixes kept, each with the kind of concept it holds; a descriptor in several
# trees takes the first kind of this list that any of its trees has.
_KINDS: tuple[tuple[str, str], ...] = (
    ("F03", "mental disorder"),
    ("C25", "mental disorder"),  # chemically induced disorders: substance use
    ("C23.888", "finding"),  # signs and symptoms
    ("C", "disease"),
    ("G08.686.784.769", "pregnancy"),
    ("G12.875.545.328", "disease"),  # graft rejection
    ("F01.145.805", "behavior"),  # smoking
    ("F01.145.958", "behavior"),  # tobacco use
    ("F01.145.317", "behavior"),  # drinking
    ("F01.145.126.980", "behavior"),  # self-injury, suicide
    ("E07", "device"),
    ("E02", "procedure"),
    ("E03", "procedure"),
    ("E04", "procedure"),
    ("E01.370.388", "procedure"),  # endoscopy
    ("E01", "test"),  # diagnostic techniques: a measurement's name, not a treatment
    ("D27.505", "drug class"),
    ("D06", "drug"),  # hormones: corticosteroids, thyroxine
)
# A term a clinician would not write: a chemical name or a code.
_CHEMICAL_RE = re.compile(r"[()\[\]{}]|\d,\d|\d-\d|^\d|[α-ωΑ-Ω]")
_ABBREVIATION_TAGS = frozenset({"ABB", "ACR"})
_MAX_TOKENS = {"drug": 5, "drug class": 7}
_DEFAULT_MAX_TOKENS = 9


@dataclass
class Concept:
    id: str
    name: str
    kind: str
    trees: list[str]
    actions: list[str] = field(default_factory=list)
    spanish: list[str] = field(default_factory=list)
    display: str = ""


@dataclass(frozen=True, order=True)
class Term:
    concept: str
    written: str
    flags: int


def _read_rds(path: Path) -> list[dict[str, str]]:
    import warnings

    import rdata  # a build-time dependency only (pip install -e '.[vocabulary]')

    with warnings.catch_warnings():
        # "Missing constructor for R class data.table": it is read as the data.frame it is.
        warnings.simplefilter("ignore")
        frame = rdata.read_rds(str(path))
    columns = [str(c) for c in frame.columns]
    return [dict(zip(columns, map(str, row), strict=True)) for row in frame.itertuples(index=False)]


def _source_commit(source: Path) -> str | None:
    try:
        out = subprocess.run(
            [
                "git",
                "--git-dir",
                str(source / ".git" if (source / ".git").exists() else source),
                "rev-parse",
                "HEAD",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _kind(trees: Iterable[str], has_action: bool) -> str | None:
    trees = list(trees)
    for prefix, kind in _KINDS:
        if any(
            t == prefix or t.startswith(prefix + ".") or (len(prefix) == 1 and t[:1] == prefix) for t in trees
        ):
            return kind
    if has_action and any(t.startswith("D") for t in trees):
        return "drug"
    return None


def natural_order(term: str) -> str:
    """MeSH's inverted form in the order a clinician writes it: "Diabetes Mellitus, Type 2"
    → "Type 2 Diabetes Mellitus", "Leukemia, Lymphocytic, Acute" → "Acute Lymphocytic Leukemia"."""
    parts = [p.strip() for p in term.split(",") if p.strip()]
    return " ".join(reversed(parts)) if len(parts) > 1 else term


def _is_abbreviation(written: str, tag: str) -> bool:
    if tag in _ABBREVIATION_TAGS:
        return True
    compact = written.replace("-", "").replace(" ", "")
    return (
        len(compact) <= 8
        and " " not in written.strip()
        and sum(c.isupper() for c in compact) >= 2
        and not compact.isdigit()
    )


def _keep_term(written: str, kind: str) -> bool:
    if _CHEMICAL_RE.search(written):
        return False
    return len(tokens(written)) <= _MAX_TOKENS.get(kind, _DEFAULT_MAX_TOKENS)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            yield {k: (v or "").strip() for k, v in row.items() if k is not None}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


_MESH_FILES = ("data_mesh_thesaurus.rds", "data_mesh_trees.rds", "data_pharm_action.rds")


def mesh_files(source: Path, scratch: Path) -> Path:
    """The folder holding the MeSH tables: ``source/data``, ``source`` itself, or, for a
    bare git copy (as ``git clone --mirror`` leaves it), the files its HEAD holds."""
    for folder in (source / "data", source):
        if all((folder / name).is_file() for name in _MESH_FILES):
            return folder
    for name in _MESH_FILES:
        try:
            blob = subprocess.run(
                ["git", "--git-dir", str(source), "show", f"HEAD:data/{name}"],
                capture_output=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"{source}: no data/{name} (a copy of jaytimm/mesh-resources?)") from exc
        (scratch / name).write_bytes(blob)
    return scratch


def _extra_descriptors(curated: Path) -> dict[str, tuple[str, str]]:
    """Descriptors outside the kept trees that clinical texts name (depression and anxiety
    are under 'Behavior' in MeSH, oxygen and vitamins under chemicals), and the roots of
    the trees (Neoplasms is C04), which the source copy lists without a tree number:
    name → (kind, tree number or "")."""
    path = curated / "extra_descriptors.tsv"
    return {row["descriptor"]: (row["kind"], row["tree"]) for row in _rows(path)} if path.exists() else {}


def read_mesh(data: Path, curated: Path = CURATED) -> tuple[dict[str, Concept], list[Term]]:
    extra = _extra_descriptors(curated)
    trees: dict[str, list[str]] = defaultdict(list)
    for row in _read_rds(data / "data_mesh_trees.rds"):
        trees[row["DescriptorUI"]].append(row["tree_location"])
    actions: dict[str, set[str]] = defaultdict(set)
    for row in _read_rds(data / "data_pharm_action.rds"):
        actions[row["DescriptorUI"]].add(row["PharmActionUI"])
    concepts: dict[str, Concept] = {}
    terms: list[Term] = []
    for row in _read_rds(data / "data_mesh_thesaurus.rds"):
        uid = row["DescriptorUI"]
        concept = concepts.get(uid)
        if concept is None:
            kind, root = extra.get(row["DescriptorName"], (None, ""))
            if root:
                trees[uid].append(root)
            kind = kind or _kind(trees.get(uid, ()), uid in actions)
            if kind is None:
                continue
            concept = concepts[uid] = Concept(uid, row["DescriptorName"], kind, sorted(trees[uid]))
        tag, written = row["LexicalTag"], row["TermName"].strip()
        if tag == "LAB" or not _keep_term(written, concept.kind):
            continue
        flags = FLAG_ABBREVIATION if _is_abbreviation(written, tag) else 0
        for form in dict.fromkeys((written, natural_order(written))):
            terms.append(Term(uid, form, flags))
    for uid, concept in concepts.items():
        concept.actions = sorted(a for a in actions.get(uid, ()) if a in concepts)
    missing = set(extra) - {c.name for c in concepts.values()}
    if missing:
        raise SystemExit(f"extra_descriptors.tsv: no MeSH descriptor {sorted(missing)}")
    return concepts, terms


def _by_name(concepts: dict[str, Concept]) -> dict[str, str]:
    return {c.name: c.id for c in concepts.values()}


def _resolve(names: dict[str, str], concepts: dict[str, Concept], key: str, where: str) -> str:
    uid = key if key in concepts else names.get(key)
    if uid is None:
        raise SystemExit(f"{where}: no kept MeSH descriptor {key!r}")
    return uid


def add_extra_concepts(concepts: dict[str, Concept], curated: Path = CURATED) -> list[Term]:
    """Concepts MeSH has no descriptor for (newer drugs: dapagliflozin, finerenone…), each
    with a trialsite id (``TS0001``) and the MeSH class above it; their terms."""
    path = curated / "extra_concepts.tsv"
    names = _by_name(concepts)
    terms: list[Term] = []
    for n, row in enumerate(_rows(path), start=2):
        uid = row["id"]
        if not re.fullmatch(r"TS\d{4}", uid) or uid in concepts:
            raise SystemExit(f"{path.name} line {n}: id {uid!r} is not a new TS0000-style id")
        broader = [_resolve(names, concepts, b, f"{path.name} line {n}") for b in _split(row["broader"])]
        spanish = _split(row.get("spanish", ""))
        concepts[uid] = Concept(uid, row["name"], row["kind"], [], sorted(broader), spanish)
        terms += [Term(uid, t, 0) for t in [row["name"], *_split(row.get("terms", ""))]]
        terms += [Term(uid, t, FLAG_ABBREVIATION) for t in _split(row.get("abbreviations", ""))]
        terms += [Term(uid, t, FLAG_SPANISH) for t in spanish]
    return terms


def _extra_terms(concepts: dict[str, Concept], names: dict[str, str], path: Path) -> list[Term]:
    """Terms of a curated file (``descriptor``, ``terms``, ``abbreviations``, ``ambiguous``); a
    file named ``*_es.tsv`` holds Spanish words, read only in Spanish texts when abbreviations."""
    language = FLAG_SPANISH if path.stem.endswith("_es") else 0
    terms: list[Term] = []
    for n, row in enumerate(_rows(path), start=2):
        uid = _resolve(names, concepts, row["descriptor"], f"{path.name} line {n}")
        ambiguous = set(_split(row.get("ambiguous", "")))
        terms += [Term(uid, t, language) for t in _split(row.get("terms", ""))]
        for abbreviation in _split(row.get("abbreviations", "")):
            flags = FLAG_ABBREVIATION | language | (FLAG_AMBIGUOUS if abbreviation in ambiguous else 0)
            terms.append(Term(uid, abbreviation, flags))
    return terms


def merge_curated(concepts: dict[str, Concept], terms: list[Term], curated: Path = CURATED) -> list[Term]:
    merged = list(terms) + add_extra_concepts(concepts, curated)
    names = _by_name(concepts)
    for extra in sorted(curated.glob("extra_terms*.tsv")) + sorted(curated.glob("shorthand*.tsv")):
        merged += _extra_terms(concepts, names, extra)
    spanish = curated / "spanish_names.tsv"
    if spanish.exists():
        outside = []
        for row in _rows(spanish):
            uid = row["mesh_id"]
            if uid not in concepts:
                outside.append(row["english_name"])  # a lab analyte, a care setting: not a concept kind kept
                continue
            words = _split(row.get("spanish_terms", ""))
            concepts[uid].spanish = words
            merged += [Term(uid, t, FLAG_SPANISH) for t in words]
            merged += [
                Term(uid, t, FLAG_SPANISH | FLAG_ABBREVIATION)
                for t in _split(row.get("spanish_abbreviations", ""))
            ]
        if outside:
            print(
                f"{spanish.name}: {len(outside)} names of descriptors outside the kept kinds skipped",
                file=sys.stderr,
            )
    display = curated / "display_names.tsv"
    for n, row in enumerate(_rows(display), start=2):
        uid = _resolve(names, concepts, row["descriptor"], f"{display.name} line {n}")
        concepts[uid].display = row["display"]
        merged.append(Term(uid, row["display"], 0))  # a display name is always a term of its concept
    absence = curated / "absence_terms.tsv"
    for n, row in enumerate(_rows(absence), start=2):
        uid = _resolve(names, concepts, row["descriptor"], f"{absence.name} line {n}")
        merged.append(Term(uid, row["term"], FLAG_ABSENT))
    return _exclude(concepts, merged, curated / "excluded_terms.tsv")


def _exclude(concepts: dict[str, Concept], terms: list[Term], path: Path) -> list[Term]:
    names = _by_name(concepts)
    dropped_concepts: set[str] = set()
    dropped_terms: set[tuple[str, str]] = set()
    dropped_words: set[str] = set()
    for n, row in enumerate(_rows(path), start=2):
        if row["what"] == "word":  # an everyday word, whatever concept lists it
            dropped_words.add(fold(row["term"]))
            continue
        uid = names.get(row["descriptor"])
        if uid is None:
            continue  # a descriptor the selection does not keep needs no exclusion
        if row["what"] == "descriptor":
            dropped_concepts.add(uid)
        elif row["what"] == "term":
            dropped_terms.add((uid, fold(row["term"])))
        else:
            raise SystemExit(f"{path.name} line {n}: 'what' must be descriptor, term or word")
    return [
        t
        for t in terms
        if t.concept not in dropped_concepts
        and (t.concept, fold(t.written)) not in dropped_terms
        and (t.flags & FLAG_ABBREVIATION or fold(t.written) not in dropped_words)
    ]


def _ambiguous_keys(terms: list[Term]) -> set[str]:
    """Abbreviations that name several concepts need a supporting word whichever is meant."""
    owners: dict[str, set[str]] = defaultdict(set)
    for term in terms:
        if term.flags & FLAG_ABBREVIATION:
            owners[fold(term.written)].add(term.concept)
    return {key for key, ids in owners.items() if len(ids) > 1}


def compile_vocabulary(
    concepts: dict[str, Concept], terms: list[Term], source: dict[str, Any]
) -> dict[str, Any]:
    ambiguous = _ambiguous_keys(terms)
    order = sorted(concepts)
    index = {uid: i for i, uid in enumerate(order)}
    rows: dict[tuple[int, str, str], int] = {}
    for term in terms:
        key = fold(term.written)
        if not key:
            continue
        flags = term.flags | (FLAG_AMBIGUOUS if term.flags & FLAG_ABBREVIATION and key in ambiguous else 0)
        slot = (index[term.concept], term.written, key)
        if slot in rows:
            # The same words from two lists: Spanish only if every list says so ("CPAP" is
            # English and Spanish), ambiguous if any list says so.
            spanish = rows[slot] & flags & FLAG_SPANISH
            flags = ((rows[slot] | flags) & ~FLAG_SPANISH) | spanish
        rows[slot] = flags
    ordered = sorted(rows)
    return {
        "format": FORMAT,
        "source": source,
        "concepts": [
            [
                c.id,
                c.name,
                c.kind,
                ";".join(c.trees),
                ";".join(c.actions),
                "|".join(c.spanish),
                ""
                if (c.display or natural_order(c.name)) == c.name
                else (c.display or natural_order(c.name)),
            ]
            for c in (concepts[uid] for uid in order)
        ],
        "terms": {
            "concept": [i for (i, _, _) in ordered],
            "written": [written for (_, written, _) in ordered],
            "key": [key for (_, _, key) in ordered],
            "flags": [rows[slot] for slot in ordered],
        },
    }


def write(vocabulary: dict[str, Any], path: Path) -> None:
    raw = json.dumps(vocabulary, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with path.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, required=True, help="a copy of jaytimm/mesh-resources")
    parser.add_argument("--out", type=Path, default=DATA_FILE, help=f"default: {DATA_FILE}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        concepts, terms = read_mesh(mesh_files(args.source, Path(scratch)))
    terms = merge_curated(concepts, terms)
    source = {
        "name": "MeSH 2024 (Medical Subject Headings: desc2024, mtrees2024), U.S. National Library of Medicine",
        "licence": "MeSH is produced by the U.S. National Library of Medicine and is in the public domain; "
        "courtesy of the U.S. National Library of Medicine",
        "copy": "github.com/jaytimm/mesh-resources (data/data_mesh_thesaurus.rds, data_mesh_trees.rds, "
        "data_pharm_action.rds)",
        "commit": _source_commit(args.source),
        "curated": "ingest/vocabulary/curated/ (see its README.md)",
    }
    vocabulary = compile_vocabulary(concepts, terms, source)
    write(vocabulary, args.out)
    kinds: dict[str, int] = defaultdict(int)
    for row in vocabulary["concepts"]:
        kinds[row[2]] += 1
    print(
        f"{len(vocabulary['concepts']):,} concepts, {len(vocabulary['terms']['key']):,} terms -> {args.out} "
        f"({args.out.stat().st_size / 1e6:.1f} MB); "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
