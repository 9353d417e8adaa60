"""The sections of ``benchmarks/RESULTS.md`` that single scripts write: each between
``<!-- NAME: begin -->`` and ``<!-- NAME: end -->``, replaced in place by a new run of its
script and kept as it is by the others (``bench.py`` rewrites the rest of the file)."""

from __future__ import annotations

import re
from pathlib import Path


def markers(script: str) -> tuple[str, str]:
    """The begin and end markers of ``script``'s section (``script``: its file name)."""
    return f"<!-- {script}: begin -->", f"<!-- {script}: end -->"


def write_section(results: Path, text: str, begin: str, end: str) -> None:
    """Put ``text`` (``begin``..``end``) into ``results`` in place of the old section, or at
    its end when it has none yet."""
    old = results.read_text("utf-8") if results.exists() else ""
    if begin in old and end in old:
        before, rest = old.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        new = before + text + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    results.write_text(new, "utf-8")


def kept_sections(results: Path) -> str:
    """Every script's section of ``results``, each after a blank line, as it is."""
    old = results.read_text("utf-8") if results.exists() else ""
    sections = re.finditer(r"<!-- ([\w.]+): begin -->.*?<!-- \1: end -->\n?", old, re.S)
    return "".join("\n" + match.group(0) for match in sections)
