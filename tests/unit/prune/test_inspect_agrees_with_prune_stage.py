"""`compress inspect RECIPE` prunes as the recipe's prune stage does (issue 33, item 3): what it calls prunable the
stage prunes, and where the stage fails it names the blocking operation, its module and the ignore that avoids it.

Before, inspect's test prune used its own options (a 0.5 ratio, round_to 8) whatever the recipe said: on a model
that splits a conv's output by stored sizes it reported a clean test prune, and the stage, at the recipe's
round_to 4, failed in split_with_sizes (as timm's mobilevitv2_050 did)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.errors import UserInputError
from toolkit.run.pipeline import run_recipe


def _recipe(tmp_path, **prune) -> str:
    raw = {"name": "split", "seed": 0, "model": {"arch": "stored_split:split_net"},
           "data": {"dataset": "synthetic", "image_size": 16, "num_samples": 32, "num_classes": 4, "batch_size": 16},
           "measure": {"runtimes": [], "accuracy": False},
           "stages": [{"prune": {"target": {"ratio": 0.5}, "round_to": 4, **prune}}],
           "output": str(tmp_path / "runs")}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_inspect_names_the_split_that_blocks_and_the_prune_stage_fails_on_it(tmp_path):
    recipe = _recipe(tmp_path)
    inspected = CliRunner().invoke(main, ["inspect", recipe])
    assert inspected.exit_code == 1, inspected.output
    out = " ".join(inspected.output.split())
    assert "test prune as the prune stage (ratio 0.5, l2, round_to 4, max_layer_ratio 0.8) failed" in out
    assert "block: blocked by split_with_sizes in block (Torch-Pruning cannot prune through it" in out
    assert 'add "block.conv" to prune.ignore' in out
    assert "a second test prune with ignore: ['block.conv'] works" in out
    with pytest.raises(UserInputError, match=r"blocked by split_with_sizes in block .*\"block\.conv\""):
        run_recipe(recipe)  # the stage fails where inspect said it would, with the same explanation


def test_with_the_suggested_ignore_inspect_and_the_prune_stage_both_prune(tmp_path):
    recipe = _recipe(tmp_path, ignore=["block.conv"])
    inspected = CliRunner().invoke(main, ["inspect", recipe, "--json"])
    assert inspected.exit_code == 0, inspected.output
    test = yaml.safe_load(inspected.output)["test_prune"]
    assert test["output_shape_kept"] and not test["removed_nothing"] and test["ratio"] == 0.5
    stage = run_recipe(recipe).stages[-1]
    assert stage.status == "ok"
    channels = stage.metrics["extra"]["channels"]
    assert channels["block.conv"] == [8, 8] and channels["stem.0"][1] < 32


def test_a_channel_slice_by_a_stored_count_is_refused_before_torch_pruning_and_its_layer_can_be_kept_whole():
    import torch
    from stored_split import partial_residual_net

    from toolkit.prune import PrunePlan, channel_counts, prune_once
    from toolkit.prune.failing_call import PruneBlocked

    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(PruneBlocked, match=r"cannot be pruned as is: blocked by slice in 2 .*x\[:, 0:8\] takes 8 of "
                                           r"16 channels\): add \"2\.expand\" to prune\.ignore"):
        prune_once(partial_residual_net(), x, PrunePlan(num_classes=10), 0.5)
    pruned = prune_once(partial_residual_net(), x, PrunePlan(num_classes=10, ignore=["2.expand"]), 0.5)
    counts = channel_counts(pruned)
    assert counts["2.expand"] == 16 and counts["0"] == 8 and counts["3"] == 16  # the slice's layers kept whole
    assert pruned(x).shape == (1, 10)
