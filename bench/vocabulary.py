"""The clinical vocabulary: its size, how fast it loads, and how fast it reads text.

    .venv/bin/python -m bench.vocabulary

Each figure is taken in a fresh interpreter (a subprocess), so "load" is what a worker
pays once: reading ``ingest/vocabulary/data/vocabulary.json.gz`` and building the
recognizer's automaton, with the extra resident memory it takes. "Warm" is a second load
with the file in the page cache. Recognition is timed on the 125 labelled case notes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = r"""
import json, resource, time
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import orjson, ahocorasick  # the libraries themselves are not the vocabulary's cost
from ingest.vocabulary.normalize import tokens
start = time.perf_counter()
from ingest.vocabulary.recognizer import load_recognizer
recognizer = load_recognizer()
loaded = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"load_s": loaded, "extra_mb": (peak - before) / 1024,
                  "concepts": len(recognizer.vocabulary.concepts), "terms": len(recognizer.vocabulary.terms)}))
"""


def _load_once() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    from ingest.vocabulary.concepts import DATA_FILE

    cold = _load_once()
    warm = min((_load_once() for _ in range(3)), key=lambda r: r["load_s"])
    print(f"data: {DATA_FILE.relative_to(ROOT)} {DATA_FILE.stat().st_size / 1e6:.1f} MB, "
          f"{int(warm['concepts']):,} concepts, {int(warm['terms']):,} terms")  # fmt: skip
    print(f"load: first {cold['load_s']:.2f} s, warm {warm['load_s']:.2f} s (best of 3); "
          f"extra RSS {warm['extra_mb']:.0f} MB")  # fmt: skip

    import time

    from bench.referral import load_casenotes
    from ingest.vocabulary.context import assert_context
    from ingest.vocabulary.recognizer import find_concepts

    texts = [row["text"] for row in load_casenotes()]
    find_concepts(texts[0])
    rounds = 5
    started = time.perf_counter()
    mentions = 0
    for _ in range(rounds):
        for text in texts:
            found = find_concepts(text)
            mentions += len(found)
            assert_context(text, found)
    elapsed = time.perf_counter() - started
    chars = sum(len(t) for t in texts) * rounds
    print(f"recognise + ConText: {rounds * len(texts) / elapsed:.0f} notes/s, {chars / elapsed / 1e6:.2f} M chars/s, "
          f"{mentions // rounds} concepts in {len(texts)} notes (one core)")  # fmt: skip


if __name__ == "__main__":
    main()
