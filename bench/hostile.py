"""Run the worst inputs of issues 14 and 23 and print what each did.

Issue 14 (``--only inputs``): each case runs ``trialsite`` in a subprocess against a fresh
SQLite store and a hostile loopback server (``tests/hostile_server.py``) or a generated
file, printing wall time, peak RSS and exit code; a case that outlives ``--timeout`` is
reported as a hang. Issue 23 (``--only service``, :mod:`bench.hostile_service`): the
service as a process on SQLite and PostgreSQL (fuzzed FHIR Bundles, phase filters, deep
JSON, NUL bytes, backends killed mid-match, a forged Host, what the log holds) and the
nightly job against hostile webhooks and a registry changing under a listing.

    .venv/bin/python bench/hostile.py [--timeout 120] [--only inputs|service]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.criteria import worst_shapes
from tests.hostile_server import serve_hostile
from tests.registry_server import load_studies

TRIALSITE = str(Path(sys.executable).parent / "trialsite")
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def run(args: list[str], timeout: float) -> tuple[float, float, int | None]:
    """(seconds, peak RSS MB, exit code or None for a hang) of ``trialsite ARGS``."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, TRIALSITE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, float("nan"), None
    rss = int(proc.stdout.strip().splitlines()[-1]) / 1024
    return time.perf_counter() - started, rss, proc.returncode


@contextmanager
def served(behaviour: str, **options: object) -> Iterator[str]:
    with serve_hostile(behaviour, load_studies(), **options) as server:
        yield server.base_url


def no_server() -> AbstractContextManager[str]:
    return nullcontext("")


def parse_file(path: Path) -> Callable[[str], list[str]]:
    return lambda _url: ["criteria", "parse", str(path), "--json"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", choices=("inputs", "service"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "service":
            inputs(Path(tmp), args.timeout)
        if args.only != "inputs":
            from bench.hostile_service import main_cases

            main_cases(Path(tmp))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this driver and its servers: {own:.0f} MB)")


def inputs(folder: Path, timeout: float) -> None:
    print(f"{'case':58s} {'time':>8s} {'peak RSS':>10s}  exit")
    ctgov = ["ingest", "ctgov", "--rate-limit", "0", "--page-size", "5", "--no-geocode"]
    cases: list[tuple[str, Callable[[], AbstractContextManager[str]], Callable[[str], list[str]]]] = [
        (
            "ingest ctgov: looping nextPageToken",
            lambda: served("looping"),
            lambda u: [*ctgov, "--base-url", u],
        ),
        (
            "ingest ctgov: endless fresh tokens past totalCount",
            lambda: served("endless_tokens"),
            lambda u: [*ctgov, "--base-url", u],
        ),
        (
            "ingest ctgov: page 2 answers 400",
            lambda: served("page2_fails"),
            lambda u: [*ctgov, "--base-url", u],
        ),
        (
            "ingest page: body trickled 1 byte/0.5 s, --timeout 5",
            lambda: served("trickle", interval=0.5),
            lambda u: ["ingest", "page", f"{u}/t.html", "--timeout", "5", "--no-geocode"],
        ),
        (
            "ingest page: endless body",
            lambda: served("endless"),
            lambda u: ["ingest", "page", f"{u}/t.html", "--no-geocode"],
        ),
    ]
    cases.append(
        (
            "gazetteer build from scratch (first place lookup)",
            no_server,
            lambda _u: ["gazetteer", "build", "--path", str(folder / "gazetteer.sqlite")],
        )
    )
    for index, (name, text) in enumerate(worst_shapes().items()):
        path = folder / f"criteria-{index}.txt"
        path.write_text(text)
        cases.append((f"criteria parse: {name}", no_server, parse_file(path)))
    for index, (name, server, command) in enumerate(cases):
        store = f"sqlite:///{folder / f'store-{index}.db'}"
        with server() as url:
            seconds, rss, code = run(["--db", store, *command(url)], timeout)
        shown = "HANG" if code is None else str(code)
        print(f"{name:58s} {seconds:7.2f}s {rss:8.0f} MB  {shown}")


if __name__ == "__main__":
    main()
