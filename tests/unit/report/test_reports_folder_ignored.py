"""`compress report ... -o reports/NAME.html` leaves nothing untracked: its HTML and both summaries are ignored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _ignored(relative: str) -> bool:
    # --no-index: the answer of the ignore rules alone, whether or not the path is tracked
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", relative], cwd=ROOT, check=False)
    if done.returncode not in (0, 1):
        pytest.skip(f"git check-ignore failed here (exit {done.returncode}): not a git checkout?")
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_report_outputs_in_reports_are_ignored_but_its_readme_and_examples_are_not():
    for output in ("reports/x.html", "reports/x.summary.json", "reports/x.summary.md"):
        assert _ignored(output), f"{output} would be left untracked in the checkout"
    for tracked in ("reports/README.md", "reports/example-quickstart.html"):
        assert not _ignored(tracked), f"{tracked} must stay tracked"


def test_readme_says_where_the_summary_files_go():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "reports/NAME.summary.json" in readme and "reports/NAME.summary.md" in readme
