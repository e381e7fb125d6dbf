"""Pre-flight for pruning: the dependency graph's groups, what is kept and why, what blocks, a test prune."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.prune.advice import add_coupling_advice, add_reshape_advice
from toolkit.prune.channels import PRUNABLE, PrunePlan, classifier_of, prune_once, resolve_ignored, shuffle_blocks

BLOCKING_MODULES = {"PixelShuffle": "pixel shuffle moves channels into space", "PixelUnshuffle":
                    "pixel unshuffle moves space into channels", "ChannelShuffle": "channel shuffle permutes channels "
                    "across groups"}
SHUFFLE_NOTE = ("ShuffleNet-v2's channel shuffle (view + transpose over channels) cannot be followed by "
                "Torch-Pruning's dependency graph; the toolkit prunes the inner channels of each block's "
                "branch instead, and the shuffled channels stay intact")


def _groups(model: nn.Module, example: torch.Tensor, ignored: list[nn.Module]) -> list[dict[str, Any]]:
    import torch_pruning as tp

    names = {m: n for n, m in model.named_modules()}
    graph = tp.DependencyGraph().build_dependency(model, example)
    groups = []
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]):
        members = []
        for dep, _ in group:
            module = dep.target.module
            if module in names and names[module] not in members:
                members.append(names[module])
        root = group[0][0].target.module
        channels = getattr(root, "out_channels", None) or getattr(root, "out_features", None)
        groups.append({"root": names.get(root, str(root)), "channels": channels, "members": members})
    return groups


def _test_prune(model: nn.Module, example: torch.Tensor, plan: PrunePlan) -> dict[str, Any]:
    """Prune a copy by 50%, check the output shape, export it to ONNX and compare with ONNX Runtime."""
    from toolkit.artifacts import ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.runtimes import get_runtime

    pruned = prune_once(copy.deepcopy(model), example, plan, 0.5)
    with torch.no_grad():
        ref, out = model(example), pruned(example)
    macs = count_macs_params(pruned, example)
    result = {"ratio": 0.5, "output_shape_kept": tuple(out.shape) == tuple(ref.shape), "macs": macs[0],
              "params": macs[1]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pruned.onnx"
        facts = export_onnx(pruned, path, example)
        session = get_runtime("onnxruntime-cpu").load(ModelArtifact("onnx", path))
        onnx_out = session.predict(example.numpy())
    result.update(onnx_exporter=facts["exporter"], onnx_max_abs_diff=float(np.abs(onnx_out - out.numpy()).max()))
    return result


def inspect_model(model: nn.Module, example: torch.Tensor, num_classes: int, ignore: list[str] | None = None,
                  method: str = "l2") -> dict[str, Any]:
    """Everything a user needs to know before pruning this model; never raises for a model that blocks."""
    model = model.cpu().eval()
    example = example[:1].cpu()
    macs, params = count_macs_params(model, example)
    report: dict[str, Any] = {"macs": macs, "params": params, "ignored": [], "blocking": [], "notes": [],
                              "groups": [], "prunable": True}
    names = {m: n for n, m in model.named_modules()}
    head = classifier_of(model, example, num_classes)
    if head is not None:
        report["ignored"].append({"module": names[head], "why": f"final classifier ({num_classes} outputs)"})
    user = resolve_ignored(model, ignore or [])
    report["ignored"] += [{"module": names[m], "why": "recipe's prune.ignore"} for m in user
                          if isinstance(m, PRUNABLE)]
    for name, module in model.named_modules():
        why = BLOCKING_MODULES.get(type(module).__name__)
        if why:
            report["blocking"].append({"module": name, "why": why})
    blocks = shuffle_blocks(model)
    if blocks:
        report["notes"].append(SHUFFLE_NOTE)
        report["blocking"].append({"module": "channel_shuffle (in every block)", "why": "view + transpose over "
                                   "channels; handled by pruning inside each block's branch"})
    else:
        try:
            report["groups"] = _groups(model, example, ([head] if head is not None else []) + user)
        except Exception as exc:  # noqa: BLE001 - the explanation is the product here
            report["prunable"] = False
            report["blocking"].append({"module": "dependency graph", "why": f"{type(exc).__name__}: {exc}"[:300]})
    if report["prunable"]:
        try:
            plan = PrunePlan(method=method, ignore=list(ignore or []), num_classes=num_classes)
            report["test_prune"] = _test_prune(model, example, plan)
            report["prunable"] = bool(report["test_prune"]["output_shape_kept"])
        except Exception as exc:  # noqa: BLE001
            report["prunable"] = False
            report["test_prune"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
            add_reshape_advice(report, model, example, list(ignore or []), method, num_classes, _test_prune)
    add_coupling_advice(report, model, example, head, num_classes, list(ignore or []))
    return report


def format_inspection(report: dict[str, Any], title: str) -> str:
    """Plain-text rendering of an inspection report."""
    lines = [f"{title}: {report['params']:,} parameters, {report['macs']:,} MACs per image"]
    lines.append(f"prunable groups: {len(report['groups'])}" if report["groups"] else
                 "prunable groups: (see notes)" if report["notes"] else "prunable groups: none found")
    for group in report["groups"][:60]:
        others = [m for m in group["members"] if m != group["root"]]
        lines.append(f"  {group['root']} ({group['channels']} ch) + {len(others)} coupled: {', '.join(others[:6])}"
                     + (" ..." if len(others) > 6 else ""))
    if len(report["groups"]) > 60:
        lines.append(f"  ... {len(report['groups']) - 60} more")
    lines.append("kept whole:" if report["ignored"] else "kept whole: nothing")
    lines += [f"  {item['module']}: {item['why']}" for item in report["ignored"]]
    if report["blocking"]:
        lines.append("blocking operations:")
        lines += [f"  {item['module']}: {item['why']}" for item in report["blocking"]]
    coupled = report.get("coupling") or []
    if coupled:
        lines.append("coupled channels (removed at the same positions in every part):")
        lines += [f"  {c['module']}: {c['channels']} ch in {c['parts']} parts of {c['per_part']} ({c['kind']} "
                  f"{c['by']})" for c in coupled[:30]]
    lines += [f"note: {note}" for note in report["notes"]]
    if report.get("suggested"):
        lines.append("suggested prune settings: " + ", ".join(f"{k}: {v}" for k, v in report["suggested"].items()
                                                             if k != "test_prune"))
    test = report.get("test_prune")
    if test and "error" not in test:
        lines.append(f"test prune at 50%: output shape {'kept' if test['output_shape_kept'] else 'CHANGED'}, "
                     f"MACs {report['macs']:,} -> {test['macs']:,} ({report['macs'] / test['macs']:.2f}x), "
                     f"ONNX export ok ({test['onnx_exporter']}), max |onnx - torch| {test['onnx_max_abs_diff']:.2e}")
    elif test:
        lines.append(f"test prune at 50% failed: {test['error']}")
    lines.append("verdict: " + ("can be pruned" if report["prunable"] else "cannot be pruned as is (see above)"))
    return "\n".join(lines)
