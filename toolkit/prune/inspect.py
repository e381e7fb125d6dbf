"""Pre-flight for pruning: the dependency graph's groups, what is kept and why, what blocks, a test prune."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.prune.advice import add_blocking_advice, add_coupling_advice, add_reshape_advice, add_split_advice
from toolkit.prune.channels import PRUNABLE, classifier_of, resolve_ignored, shuffle_blocks
from toolkit.prune.config import Prune, PruneTarget
from toolkit.prune.tp_warnings import torch_pruning_notes
from toolkit.prune.trial import describe_options, stand_in, trial_prune

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


def inspect_model(model: nn.Module, example: torch.Tensor, num_classes: int, ignore: list[str] | None = None,
                  cfg: Prune | None = None, seed: int = 0) -> dict[str, Any]:
    """Everything a user needs to know before pruning this model; never raises for a model that blocks.

    The test prune is the prune stage's own step with `cfg` (a recipe's prune options; default: a 0.5 ratio) and
    `ignore` added to its ignored layers, on a copy of the model: what this calls prunable, the stage prunes, and
    when the stage would fail, the report names the blocking operation and module.
    """
    cfg = cfg if cfg is not None else Prune(target=PruneTarget(ratio=0.5))
    ignore = list(dict.fromkeys([*cfg.ignore, *(ignore or [])]))
    cfg = cfg.model_copy(update={"ignore": ignore})
    model = model.cpu().eval()
    example = example[:1].cpu()
    macs, params = count_macs_params(model, example)
    report: dict[str, Any] = {"macs": macs, "params": params, "ignored": [], "blocking": [], "notes": [],
                              "groups": [], "prunable": True}
    names = {m: n for n, m in model.named_modules()}
    head = classifier_of(model, example, num_classes)
    if head is not None:
        report["ignored"].append({"module": names[head], "why": f"final classifier ({num_classes} outputs)"})
    user = resolve_ignored(model, ignore)
    report["ignored"] += [{"module": names[m], "why": "prune.ignore or --ignore"} for m in user
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
            with torch_pruning_notes(lambda note: _add_note(report, note)):
                report["groups"] = _groups(model, example, ([head] if head is not None else []) + user)
        except Exception as exc:  # noqa: BLE001 - the explanation is the product here
            report["prunable"] = False
            report["blocking"].append({"module": "dependency graph", "why": f"{type(exc).__name__}: {exc}"[:300]})
    if report["prunable"]:
        with torch_pruning_notes(lambda note: _add_note(report, note)):
            _add_test_prune(report, model, example, cfg, num_classes, seed)
    add_coupling_advice(report, model, example, head, num_classes, ignore)
    return report


def _add_note(report: dict[str, Any], note: str) -> None:
    if note not in report["notes"]:  # the graph and the test prune each meet the same parameters
        report["notes"].append(note)


def _add_test_prune(report: dict[str, Any], model: nn.Module, example: torch.Tensor, cfg: Prune, num_classes: int,
                    seed: int) -> None:
    """The stage's prune on a copy (trial_prune); on failure, the blocking operation and the ignore that fixes it."""
    def retry(ignored: list[str]) -> dict[str, Any]:
        return trial_prune(model, example, cfg.model_copy(update={"ignore": ignored}), num_classes, seed)

    try:
        report["test_prune"] = retry(list(cfg.ignore))
        report["prunable"] = bool(report["test_prune"]["output_shape_kept"])
        if report["test_prune"]["removed_nothing"]:  # the stage fails with "pruning removed nothing"
            report["prunable"] = False
            report["notes"].append("the test prune removed nothing: every prunable layer is ignored, too small, or "
                                   "kept whole (see kept whole); the prune stage fails the same way")
    except Exception as exc:  # noqa: BLE001
        report["prunable"] = False
        said = getattr(exc, "detail", "") or str(exc)  # TorchPruningFailed's pointer to inspect would point here
        report["test_prune"] = {"options": describe_options(stand_in(cfg)[0]), "error": f"{type(exc).__name__}: "
                                f"{said}"[:600]}
        add_blocking_advice(report, exc, model, list(cfg.ignore), retry)
        for advice in (add_reshape_advice, add_split_advice):  # until one has explained the failure
            if "test_prune" not in report.get("suggested", {}):  # no advice has tried an ignore list yet
                advice(report, exc, model, example, list(cfg.ignore), retry)


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
    # The test prune comes before the notes: a note's second try with a suggested ignore list reads as what
    # to do about this result, not as a success announced before the failure it answers.
    test = report.get("test_prune")
    if test:
        how = f"test prune as the prune stage ({test['options']})"
        lines += [f"note: {test['stand_in']}"] if test.get("stand_in") else []
    if test and "error" not in test:
        shape = "kept" if test["output_shape_kept"] else "CHANGED"
        lines.append(f"{how}: ratio {test['ratio']:g}, output shape {shape}, MACs {report['macs']:,} -> "
                     f"{test['macs']:,} ({report['macs'] / test['macs']:.2f}x), ONNX export ok "
                     f"({test['onnx_exporter']}), max |onnx - torch| {test['onnx_max_abs_diff']:.2e}")
    elif test:
        lines.append(f"{how} failed: {test['error']}")
    lines += [f"note: {note}" for note in report["notes"]]
    if report.get("suggested"):
        lines.append("suggested prune settings: " + ", ".join(f"{k}: {v}" for k, v in report["suggested"].items()
                                                             if k != "test_prune"))
    lines.append("verdict: " + ("can be pruned" if report["prunable"] else "cannot be pruned as is (see above)"))
    return "\n".join(lines)
