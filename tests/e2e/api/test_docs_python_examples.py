"""Every Python example in the README and the docs site runs as written (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [(page, n, code) for page in PAGES
            for n, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S))]


def test_the_docs_have_python_examples_to_run():
    assert EXAMPLES, "no ```python block found: the test below would check nothing"


@pytest.mark.parametrize("page,n,code", EXAMPLES, ids=[f"{p.name}-{n}" for p, n, _ in EXAMPLES])
def test_a_python_example_runs_as_written(page, n, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write runs/ where they run, as a user's would
    exec(compile(code, f"{page.relative_to(ROOT)} example {n}", "exec"), {"__name__": "__docs_example__"})
