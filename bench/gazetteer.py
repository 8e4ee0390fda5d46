"""Build the offline gazetteer from scratch and print its time and memory.

Runs ``trialsite gazetteer build --path TMP`` in a subprocess and samples, every
50 ms, the resident memory of that process and of every process it starts (the
postal worker), from ``/proc``. Prints the peak of each process, the peak of their
sum, the wall time and the file's size::

    python -m bench.gazetteer [--repeat 1]

Linux only (``/proc``). The target (issues 14 and 15): every process under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 1e6
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def build_once(folder: Path) -> tuple[float, dict[str, float], float, float]:
    """(seconds, peak MB per process label, peak MB of the sum, file MB)."""
    target = folder / "gazetteer.sqlite"
    target.unlink(missing_ok=True)
    cli = Path(sys.executable).with_name("trialsite")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(cli), "gazetteer", "build", "--path", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks: dict[int, float] = {}
    total_peak = 0.0
    while proc.poll() is None:
        total = 0.0
        for pid in _tree(proc.pid):
            rss = _rss_mb(pid)
            total += rss
            peaks[pid] = max(peaks.get(pid, 0.0), rss)
        total_peak = max(total_peak, total)
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"gazetteer build failed (exit {proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
        )
    labels = {("main" if pid == proc.pid else f"worker {pid}"): mb for pid, mb in peaks.items() if mb > 1}
    return seconds, labels, total_peak, target.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="builds to run (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trialsite-bench-gaz-") as tmp:
        for n in range(1, args.repeat + 1):
            seconds, peaks, total, size = build_once(Path(tmp))
            each = ", ".join(f"{label} {mb:,.0f} MB" for label, mb in peaks.items())
            print(
                f"build {n}: {seconds:.1f} s; peak RSS {each}; all processes together {total:,.0f} MB; "
                f"file {size:,.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
