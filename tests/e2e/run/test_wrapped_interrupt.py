"""An interrupt that native code re-raised as its own error type inside a stage is an interruption (exit
130, run.json 'interrupted'), not a stage failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.config import StageConfig
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


class _Wrapping(StageConfig):
    """A stage whose native call turns Ctrl-C into RuntimeError, as numpy and torch can."""


@pytest.mark.slow
def test_an_interrupt_wrapped_by_native_code_marks_the_run_interrupted(tiny, temporary_stages):
    @temporary_stages("wrapping_interrupt_test", _Wrapping)
    def wrapping(model, cfg, ctx):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("cannot load module more than once per process") from exc

    raw = tiny(stages=[{"train": {"epochs": 1}}, {"wrapping_interrupt_test": {}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    with pytest.raises(KeyboardInterrupt):
        run_recipe(parse_recipe(raw))
    run_dir = Path(raw["output"]) / raw["name"]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted"
    assert not (run_dir / "02-wrapping_interrupt_test").exists()
