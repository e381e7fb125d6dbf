"""CLI flags and recipe options that change behaviour, each checked once."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe


def test_run_fresh_retrains_and_report_output_goes_where_asked(tiny, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    assert CliRunner().invoke(main, ["run", str(path), "-q"]).exit_code == 0
    again = CliRunner().invoke(main, ["run", str(path), "-q", "--fresh"])
    assert again.exit_code == 0 and "(cached)" not in again.output
    out = tmp_path / "cmp" / "mine.html"
    result = CliRunner().invoke(main, ["report", str(tmp_path / "runs" / "tiny"), "-o", str(out)])
    assert result.exit_code == 0 and out.is_file() and (out.parent / "mine.summary.md").is_file()


def test_inspect_json_and_ignore(tmp_path):
    result = CliRunner().invoke(main, ["inspect", "--model", "resnet18", "--input-size", "32", "--num-classes", "10",
                                       "--ignore", "layer4.*", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert any(i["module"].startswith("layer4") for i in report["ignored"]) and report["prunable"]


@pytest.mark.parametrize("options", [{"optimizer": "adamw", "lr": 0.003, "schedule": "onecycle"},
                                     {"schedule": "constant", "label_smoothing": 0.1, "grad_clip": 1.0,
                                      "eval_every": 0}])
def test_training_options_run(tiny, options):
    result = run_recipe(parse_recipe(tiny(stages=[{"train": {"epochs": 2, **options}}])))
    history = result.metrics["train"].extra.history
    assert len(history) == 2 and history[-1]["val_top1"] is not None
    if options.get("eval_every") == 0:
        assert "val_top1" not in history[0]


def test_random_resized_crop_and_measure_without_accuracy(tiny):
    raw = tiny()
    raw["data"]["augment"] = {"crop": "random_resized", "flip": True}
    raw["measure"]["accuracy"] = False
    result = run_recipe(parse_recipe(raw))
    assert result.metrics["train"].accuracy.top1 is None
    assert result.metrics["train"].extra.history[-1]["val_top1"] is not None
