"""Reading a text input whole, bounded: a file, a device or stdin never costs more than its cap.

Commands that read one text at once (a patient file, a referral letter, criteria text) read
at most ``limit`` bytes and refuse anything longer, so an endless or enormous input (a 5 GB
file, ``/dev/zero``) is one error line, not gigabytes of memory.
"""

from __future__ import annotations

import sys
from pathlib import Path


class InputTooLarge(ValueError):
    """The input is longer than the command reads."""


def read_text_capped(source: str, limit: int, what: str, *, errors: str = "strict") -> str:
    """The UTF-8 text of ``source`` (a path, or ``-`` for stdin), refused past ``limit`` bytes.

    Raises :class:`InputTooLarge` naming ``source`` and ``what`` is capped, ``ValueError``
    for text that is not UTF-8 (with ``errors="strict"``), and ``OSError`` as opening the
    file does (no such file, a folder, no permission).
    """
    if source == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        with Path(source).open("rb") as handle:
            data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(f"{source}: {what} is at most {_size(limit)}; this input is longer")
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError:
        raise ValueError(f"{source}: not a UTF-8 text file") from None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit:,} bytes"
