"""Human-readable numbers for the terminal and the report."""

from __future__ import annotations


def human(n: float | None, unit: str = "", sep: str = "") -> str:
    """1234567 -> '1.23M' (with sep=' ': '1.23 M'); None -> '-'."""
    if n is None:
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f}{sep}{suffix}{unit}"
    return f"{n:.0f}{sep}{unit}".rstrip()


_MD_SPECIAL = {c: f"\\{c}" for c in "\\`*_[]|~#$"}  # $: GitHub renders $...$ as math
_MD_SPECIAL.update({"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def markdown_text(text: str) -> str:
    """`text` (a name from a run folder or peers.json) as inert Markdown: one line, no markup, no HTML.

    Line breaks and other control characters become spaces; Markdown's punctuation is backslash-escaped
    and `<`, `>`, `&` become entities, so a name cannot add headings, links, tables cells or tags."""
    flat = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in str(text))
    return "".join(_MD_SPECIAL.get(c, c) for c in flat)
