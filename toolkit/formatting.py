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
