"""timm families through the whole chain (issue 33, item 7): a short train, `prune: {target: {macs_speedup: 1.5}}`,
INT8 with the cpu scheme and latency on onnxruntime-cpu, each family's smallest member on tiny synthetic images.

Each family either passes every stage or is refused with the reason this test asserts; docs/timm.md keeps the
table. Needs timm (an optional extra, in `.[dev]`); without it every case skips with that reason.
"""

from __future__ import annotations

import pytest

from toolkit.errors import ToolkitError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

# family -> (timm name, image side in pixels, the refusal's reason as a regex, or None: every stage passes)
FAMILIES = {
    "ghostnet": ("ghostnet_100", 32, None),
    "repvgg": ("repvgg_a0", 32, None),
    "efficientnet_lite": ("efficientnet_lite0", 32, None),
    "lcnet": ("lcnet_050", 32, None),
    # ReXNet's partial residual slices channels by a count each block stores (x[:, 0:self.in_channels]): refused
    # before Torch-Pruning runs (it spent over 5 minutes grouping rexnet_100's channels), naming the layer to keep.
    "rexnet": ("rexnet_100", 32, r"cannot be pruned as is: blocked by slice in features\.\d+ .*x\[:, 0:\d+\] takes "
                                 r"\d+ of \d+ channels\): add \"features\.\d+\.conv_pwl\.conv\" to prune\.ignore"),
    # MobileViT (conv + transformer): its attention reshapes q/k/v with head counts the module stores; the prune
    # stage refuses before anything is saved and names the reshape and the `ignore:` entries that avoid it.
    "mobilevit": ("mobilevit_xxs", 32, r"the pruned model no longer runs .*reshape\(.*\) in stages\.\d\.1\."
                                       r"transformer\.0\.attn\.forward writes the size of a .* feature map"),
}


def family_recipe(tmp_path, name: str, size: int) -> dict:
    return {"name": name.replace("_", "-"), "seed": 0, "model": {"arch": f"timm:{name}"},
            "data": {"dataset": "synthetic", "image_size": size, "num_samples": 64, "num_classes": 4,
                     "batch_size": 16, "eval_batch_size": 32},
            "measure": {"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 3,
                        "min_time_s": 0.0, "accuracy": False},  # each stage's own checks and its latency
            "stages": [{"train": {"epochs": 1, "lr": 0.01}}, {"prune": {"target": {"macs_speedup": 1.5}}},
                       {"quantize": {"scheme": "cpu", "cache_dir": str(tmp_path / "calib"),
                                     "calibration": {"samples": 16}, "sensitivity_samples": 16}}],
            "output": str(tmp_path / "runs")}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_timm_family_passes_every_stage_or_is_refused_with_its_reason(tmp_path, family):
    pytest.importorskip("timm", reason="timm is an optional extra: pip install -e '.[timm]'")
    name, size, refused = FAMILIES[family]
    recipe = parse_recipe(family_recipe(tmp_path, name, size))
    if refused is not None:
        with pytest.raises(ToolkitError, match=refused):
            run_recipe(recipe)
        return
    result = run_recipe(recipe)
    assert [s.status for s in result.stages] == ["ok"] * 3  # train, prune, quantize
    prune, quantize = result.stages[1].metrics, result.stages[2].metrics
    assert prune["extra"]["target_met"] and prune["extra"]["macs_after"] < prune["extra"]["macs_before"]
    assert quantize["model"]["format"] == "onnx-int8" and quantize["extra"]["scheme"] == "cpu"
    for stage in result.stages:
        assert [(r["runtime"], r["status"]) for r in stage.metrics["latency"]] == [("onnxruntime-cpu", "ok")]
