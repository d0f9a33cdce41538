"""Writing one benchmark's section of ``benchmarks/RESULTS.md``, leaving the other sections alone.

Each benchmark owns the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; the section
always records the command that produced it and the machine it ran on.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\nEach section is rewritten by the script named in it; numbers come from one run.\n"
)


def machine() -> str:
    """A one-line description of the machine (no host names or paths)."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str, command: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section ``name`` of ``path`` with ``body``, headed by ``command``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\nCommand: `{command}` ({machine()})\n\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
