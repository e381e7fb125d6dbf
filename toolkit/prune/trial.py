"""The inspector's test prune: the prune stage's own step (`prune_to_goal`) with a recipe's prune options, on a
copy of the model, then the output shape, ONNX export and ONNX Runtime parity of the result.

What the stage measures or analyses instead of computing (a latency target, a sensitivity allocation) is stood in
for by the same MACs target, uniformly: the channels removed differ, the operations pruning has to get through do
not. The taylor criterion gets its gradients from the example image with a stand-in label.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.prune.config import Prune, PruneTarget, SensitivityOptions
from toolkit.prune.target import plan_for, prune_to_goal


def stand_in(cfg: Prune) -> tuple[Prune, str | None]:
    """The options a test prune uses for `cfg`, and a note when they differ from the stage's (see the module)."""
    notes = []
    if cfg.round_to == "auto":
        from toolkit.prune.round_to import table_round_to

        value, note = table_round_to(cfg)
        cfg, notes = cfg.model_copy(update={"round_to": value}), [note]
    t = cfg.target
    if t.latency_speedup is None and cfg.allocation == "uniform":
        return cfg, "; ".join(notes) or None
    target = PruneTarget(macs_speedup=t.latency_speedup) if t.latency_speedup is not None else t
    what = "a latency_speedup target" if t.latency_speedup is not None else "allocation: sensitivity"
    uniform = cfg.model_copy(update={"target": target, "allocation": "uniform", "sensitivity": SensitivityOptions()})
    return uniform, "; ".join([f"{what} is stood in for by a uniform prune to the same MACs speedup", *notes])


def describe_options(cfg: Prune) -> str:
    """'macs_speedup 1.5, l2, round_to 8' (the target and the options that decide which channels go)."""
    t = cfg.target
    target = next(f"{k} {getattr(t, k):g}" for k in ("ratio", "macs_speedup", "params_ratio", "latency_speedup")
                  if getattr(t, k) is not None)
    steps = f", {cfg.steps} steps" if cfg.steps > 1 else ""
    scope = ", global" if cfg.global_pruning else ""
    return (f"{target}, {cfg.method}, round_to {cfg.round_to if cfg.round_to is not None else 'null'}, "
            f"max_layer_ratio {cfg.max_layer_ratio:g}{scope}{steps}")


def trial_prune(model: nn.Module, example: torch.Tensor, cfg: Prune, num_classes: int,
                seed: int = 0) -> dict[str, Any]:
    """Prune a copy of `model` (left as it is) as the prune stage with options `cfg` would, on one (1, C, H, W)
    image; check the output shape, export the result to ONNX and compare it with ONNX Runtime.

    Returns {options, ratio, output_shape_kept, macs, params, removed_nothing, onnx_exporter, onnx_max_abs_diff}
    (and `stand_in` when the options were stood in for). Raises what the stage raises: ToolkitError for a
    Torch-Pruning failure or an unreachable target, PruneBlocked when the pruned model no longer runs.
    """
    cfg, note = stand_in(cfg)
    trial = copy.deepcopy(model).cpu().eval()
    plan = plan_for(cfg, num_classes, seed)
    if cfg.method == "taylor":
        labels = torch.zeros(len(example), dtype=torch.long)
        plan.gradients = lambda m: nn.functional.cross_entropy(m(example), labels).backward()
    base = count_macs_params(trial, example)
    records = [prune_to_goal(trial, example, plan, cfg, base, step) for step in range(1, cfg.steps + 1)]
    with torch.no_grad():
        ref, out = model.eval()(example), trial(example)
    macs, params = count_macs_params(trial, example)
    result: dict[str, Any] = {"options": describe_options(cfg), "ratio": records[-1]["ratio"],
                              "output_shape_kept": tuple(out.shape) == tuple(ref.shape), "macs": macs,
                              "params": params, "removed_nothing": params >= base[1]}
    if note:
        result["stand_in"] = note
    result.update(_onnx_parity(trial, example, out))
    return result


def _onnx_parity(pruned: nn.Module, example: torch.Tensor, out: torch.Tensor) -> dict[str, Any]:
    from toolkit.artifacts import ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.runtimes import get_runtime

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pruned.onnx"
        facts = export_onnx(pruned, path, example)
        session = get_runtime("onnxruntime-cpu").load(ModelArtifact("onnx", path))
        onnx_out = session.predict(example.numpy())
    return {"onnx_exporter": facts["exporter"], "onnx_max_abs_diff": float(np.abs(onnx_out - out.numpy()).max())}
