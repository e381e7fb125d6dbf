"""The frontier benchmark's scenarios: one recipe file per model, and the budgets of each mode.

ResNet-20's recipe starts from the committed baseline (prune, distill, quantize); the others train their own
(train, prune, distill, quantize), cached in the work folder and reused by later runs of the same mode. The smoke
overrides index the four-stage order, so a recipe without a train stage gets a short one in smoke mode. The quick
budgets are sized to finish in under an hour on a 2-core CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

# Shared by every smoke run: synthetic images, one or two epochs, timing cut to a few calls.
_SMOKE = ["data.dataset=synthetic", "data.num_classes=4", "data.root=null", "data.batch_size=32",
          "stages.0.train.epochs=2", "stages.2.distill.epochs=1", "stages.1.prune.target.latency_speedup=1.2",
          "stages.1.prune.round_to=null", "stages.3.quantize.calibration.samples=64",
          "stages.3.quantize.sensitivity_samples=64", "measure.min_iters=3", "measure.warmup_s=0",
          "measure.min_time_s=0", "measure.batch_sizes=[1]"]

# The new scenarios' smoke runs differ from ResNet-20's only in the model, whose smoke run already covers the
# latency-targeted search, the float fallback of the quantize stage and the per-stage timing on both runtimes: a
# MACs target, no fallback and stages timed on one runtime (the contenders are still timed on both) keep them cheap.
_SMOKE_CHEAP = ["stages.1.prune.target.latency_speedup=null", "stages.1.prune.target.macs_speedup=1.5",
                "stages.3.quantize.max_accuracy_drop=null", "measure.runtimes=[onnxruntime-cpu]"]
# Large models at batch 32 take tens of ms a call: fewer timed calls per round (three interleaved rounds remain).
# Each layer the quantize stage keeps in float costs one evaluation of the validation set (ResNet-56: ~2 min on a
# busy 2-core machine, measured 2026-11-29), and it runs twice (recipe and PTQ only): at most two layers.
_QUICK_TIMING = ["measure.min_iters=20", "measure.min_time_s=0.5", "measure.warmup_s=0.2",
                 "stages.3.quantize.sensitivity_samples=500", "stages.3.quantize.max_float_layers=2"]


@dataclass(frozen=True)
class Scenario:
    """A model of the frontier benchmark: its recipe and what each mode changes in it."""

    recipe: str
    smoke: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """The recipe file."""
        return RECIPES / self.recipe


SCENARIOS: dict[str, Scenario] = {
    # Starts from the committed baseline (benchmarks/baselines). Overhead-bound at batch 1 (0.3 ms, more than half
    # fixed cost), so its targets are at batch 32.
    "resnet20": Scenario(
        "frontier_resnet20.yaml",
        smoke=["data.num_samples=256", "data.image_size=32"],
        quick=["data.limit_train=10000", "stages.1.distill.epochs=2"]),
    # The model of the DepGraph / Torch-Pruning CIFAR tables: 3x the MACs of ResNet-20, compute-bound.
    "resnet56": Scenario(
        "frontier_resnet56.yaml",
        smoke=["data.num_samples=128", "data.image_size=16", "model.kwargs.width=8", *_SMOKE_CHEAP],
        quick=["data.limit_train=10000", "data.limit_val=2000", "stages.0.train.epochs=8",
               "stages.0.train.eval_every=0", "stages.2.distill.epochs=3", "stages.2.distill.eval_every=0",
               *_QUICK_TIMING]),
    # The hard case for INT8: depthwise convolutions and ReLU6 (torchvision's architecture, CIFAR strides).
    "mobilenet_v2": Scenario(
        "frontier_mobilenet_v2.yaml",
        smoke=["data.num_samples=128", "data.image_size=16", "model.kwargs.width_mult=0.25", *_SMOKE_CHEAP],
        quick=["data.limit_train=5000", "data.limit_val=2000", "stages.0.train.epochs=6",
               "stages.0.train.eval_every=0", "stages.2.distill.epochs=3", "stages.2.distill.eval_every=0",
               *_QUICK_TIMING]),
}


def budgets(mode: str, model: str, work: Path) -> list[str]:
    """The `--set` overrides of the scenario's recipe for `mode` (smoke, quick or full)."""
    scenario = SCENARIOS[model]
    common = [f"output={work}", f"name=frontier-{model}-{mode}"]
    if mode == "smoke":
        from toolkit.recipe.parse import read_yaml

        # A recipe that starts from a committed baseline (no train stage) gets a short one in its smoke run: the
        # synthetic images have other classes than the checkpoint, and _SMOKE indexes a four-stage recipe.
        raw = read_yaml(scenario.path)
        if "train" not in raw["stages"][0]:
            stages = [{"train": {"epochs": 2}}] + [
                {kind: {**body, "teacher": "train"} if body.get("teacher") == "input" else body}
                for stage in raw["stages"] for kind, body in stage.items()]
            common += ["model.checkpoint=null", "stages=" + json.dumps(stages)]
        return common + _SMOKE + scenario.smoke
    if mode == "quick":
        return common + scenario.quick
    return common
