"""Progress shows by default where someone is watching: a terminal or a notebook; not in a pipe."""

from __future__ import annotations

import io
import sys

import pytest

import toolkit.progress as progress
from toolkit import Pipeline, stages

MEASURE = {"runtimes": ["torch-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 2, "min_time_s": 0.0}


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_progress_defaults_on_in_a_terminal_or_notebook_and_off_in_a_pipe(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert not progress.interactive() and progress.default_console(None) is None
    assert progress.default_console(True) is not None  # forced on
    monkeypatch.setattr(sys, "stdout", FakeTty())
    assert progress.interactive() and progress.default_console(None) is not None
    assert progress.default_console(False) is None  # forced off
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert progress.interactive()


@pytest.mark.slow
def test_api_run_shows_data_preparation_and_epochs_by_default_when_interactive(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(progress, "interactive", lambda: True)
    from rich.progress import Progress

    titles, add_task = [], Progress.add_task  # the bars' titles: rich draws no bar into a captured stdout
    monkeypatch.setattr(Progress, "add_task", lambda self, description, *a, **k:
                        titles.append(description) or add_task(self, description, *a, **k))
    pipe = Pipeline(model={"arch": "resnet20", "kwargs": {"width": 8}},
                    data={"dataset": "synthetic", "image_size": 16, "num_samples": 96, "num_classes": 4,
                          "batch_size": 32}, measure=MEASURE, stages=[stages.Train(epochs=1)])
    pipe.run(tmp_path / "runs" / "shown")
    shown = capsys.readouterr().out
    assert "data: preparing the synthetic data set" in shown and "epoch 1/1" in shown
    assert titles and all(t.startswith("train ") and "train train" not in t for t in titles), titles
    pipe.run(tmp_path / "runs" / "shown", progress=False)  # cached: would print "01-train: cached"
    assert capsys.readouterr().out == ""


def test_an_epoch_progress_title_names_the_stage_once():
    assert progress.epoch_title("distill", "distill", 1, 1) == "distill 1/1"
    assert progress.epoch_title("prune", "finetune-2", 1, 3) == "prune finetune-2 1/3"
    assert progress.epoch_title("quantize", "qat", 2, 2) == "quantize qat 2/2"
