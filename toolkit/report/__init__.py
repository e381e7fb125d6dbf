"""The HTML report, built from run folders' JSON files alone: one self-contained file plus summary.json/.md.

The face of the package; `write.py` renders and writes, `collect.py` reads run folders, `analysis.py` picks
the recommendation, `build.py`, `plots.py` and the `sensitivity*` modules make the sections. No torch import.
"""

from toolkit.report.write import render, summary_markdown, write_report

__all__ = ["render", "summary_markdown", "write_report"]
