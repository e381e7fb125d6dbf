"""Where Torch-Pruning itself fails on a model that splits a layer's channels into parts (timm's cspresnet50 and
mixnet_s: `IndexError: index 256 is out of bounds`), `compress inspect` names each channel split, suggests keeping
the split layers whole, and re-runs the test prune with it; the prune stage then prunes with that ignore."""

from __future__ import annotations

import torch
import yaml
from click.testing import CliRunner
from stored_split import csp_net

from toolkit.cli.main import main
from toolkit.prune.channel_slices import channel_splits
from toolkit.run.pipeline import run_recipe


def _recipe(tmp_path, **prune) -> str:
    raw = {"name": "csp", "seed": 0, "model": {"arch": "stored_split:csp_net"},
           "data": {"dataset": "synthetic", "image_size": 16, "num_samples": 32, "num_classes": 4, "batch_size": 16},
           "measure": {"runtimes": [], "accuracy": False},
           "stages": [{"prune": {"target": {"ratio": 0.5}, **prune}}],
           "output": str(tmp_path / "runs")}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_inspect_names_the_split_and_the_ignore_that_lets_torch_pruning_through(tmp_path):
    inspected = CliRunner().invoke(main, ["inspect", _recipe(tmp_path)])
    out = " ".join(inspected.output.split())
    assert inspected.exit_code == 1 and "Traceback" not in out, out
    assert "Torch-Pruning could not prune this model (IndexError" in out and "run `compress inspect`" not in out
    assert "2: split over the 32 channels of 2.conv_exp.0: Torch-Pruning's index bookkeeping may fail on it" in out
    assert "a second test prune with ignore: ['2.conv_exp.0'] works" in out
    # the failed test prune comes first, then the second try that answers it, then the settings to copy
    assert out.index("failed:") < out.index("a second test prune") < out.index("suggested prune settings")


def test_with_the_suggested_ignore_the_prune_stage_prunes_the_rest(tmp_path):
    stage = run_recipe(_recipe(tmp_path, ignore=["2.conv_exp.0"])).stages[-1]
    assert stage.status == "ok", stage.metrics
    channels = stage.metrics["extra"]["channels"]
    assert channels["2.conv_exp.0"] == [32, 32] and channels["2.block.0"][1] < 16


def test_only_channel_splits_of_feature_maps_count():
    class Splits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 1)

        def forward(self, x):
            x.split(1, dim=1)  # the input: no layer made it, pruning never changes it
            y = self.conv(x)
            y.split(1)  # the batch, not the channels
            y.chunk(2, dim=2)  # rows
            a, b = torch.chunk(y, 2, 1)  # channels
            return torch.cat([a, b], 1)

    found = channel_splits(Splits(), torch.randn(2, 3, 8, 8))
    assert [(c.op, c.producer) for c in found] == [("chunk", "conv")]
