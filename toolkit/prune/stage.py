"""The prune stage: remove whole channels to a ratio, MACs, parameter or latency target."""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn

from toolkit.context import StageContext, StageResult
from toolkit.errors import ToolkitError
from toolkit.measure.profile import count_macs_params
from toolkit.prune import PrunePlan, channel_counts
from toolkit.prune.advice import coupled_parts
from toolkit.prune.config import Prune
from toolkit.prune.layer_report import allocated_ratios, asked_ratio, off_target_layers
from toolkit.prune.round_to import rounding_blocked
from toolkit.prune.speed_flags import pruned_vs_input, slower_message
from toolkit.prune.target import plan_for, prune_to_goal
from toolkit.prune.tp_warnings import torch_pruning_notes
from toolkit.train.batchnorm import refresh_batchnorm
from toolkit.train.loop import fit


def _plan(cfg: Prune, ctx: StageContext) -> PrunePlan:
    plan = plan_for(cfg, ctx.data.num_classes, ctx.seed)
    if cfg.method == "taylor":
        batches = ctx.data.calibration_batches(cfg.taylor_batches * ctx.data.batch_size, ctx.data.batch_size,
                                               ctx.seed)
        labelled = list(zip(batches, _labels_for(ctx, batches)))

        def gradients(model: nn.Module) -> None:
            loss_fn = nn.CrossEntropyLoss()
            for images, labels in labelled:
                loss_fn(model(images), labels).backward()

        plan.gradients = gradients
    return plan


def _labels_for(ctx: StageContext, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """Labels of the calibration images (same seeded order as calibration_batches)."""
    gen = torch.Generator().manual_seed(ctx.seed + 7919)
    total = sum(len(b) for b in batches)
    order = torch.randperm(len(ctx.data.train), generator=gen)[:total]
    labels = ctx.data.train.labels[order] if hasattr(ctx.data.train, "labels") else \
        torch.tensor([ctx.data.train.files[int(i)][1] for i in order])
    return list(torch.split(labels, [len(b) for b in batches]))


def _prune_step(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, base: tuple[int, int],
                step: int, ctx: StageContext) -> dict[str, Any]:
    t = cfg.target
    if cfg.allocation == "sensitivity":
        from toolkit.prune.sensitivity_step import AnalysisPlace, sensitivity_step

        place = AnalysisPlace(ctx.data, ctx.data_key if ctx.cache_ok else None, ctx.run_dir, ctx.stage_dir,
                              ctx.measure.threads, ctx.log)
        return sensitivity_step(model, cfg, plan, example, base, place, ctx.dist)
    if t.latency_speedup is not None:
        from toolkit.prune.latency import latency_step

        from toolkit.prune.precision import PruneFacts, precision_plan

        memo = ctx.memo.setdefault("latency_base", {})  # kept across steps, with the timer it converts for
        if "precision" not in memo:
            facts = cfg.resolved if isinstance(cfg.resolved, PruneFacts) else cfg.resolve(None)
            memo["precision"] = precision_plan(facts, t.runtime, ctx.data, ctx.seed)
        return latency_step(model, cfg, plan, example, step, log=ctx.log, baseline=memo, dist=ctx.dist,
                            precision=memo["precision"])
    return prune_to_goal(model, example, plan, cfg, base, step)  # what `compress inspect` runs too


def _kept_by_design(channels: dict[str, Any], cfg: Prune, ctx: StageContext) -> set[str]:
    """Layers kept whole whatever the ratio: the classifier (its outputs are the classes) and `ignore` matches."""
    whole = {n for n, (b, _) in channels.items() if b == ctx.data.num_classes}
    return whole | {n for n in channels if any(fnmatch.fnmatchcase(n, p) for p in cfg.ignore)}


def _report_layers(extra: dict[str, Any], cfg: Prune, ctx: StageContext, coupling: dict[str, Any],
                   kept: set[str] | None = None) -> None:
    """Record (and warn about) layers that lost a share of channels far from the one asked; `kept`: the layers
    kept whole by design, when the caller has them (else computed here)."""
    if cfg.target.latency_speedup is not None:
        return
    kept = _kept_by_design(extra["channels"], cfg, ctx) if kept is None else kept
    per_group = allocated_ratios(extra["steps"])  # allocation: sensitivity asks each group its own share
    asked = per_group if per_group is not None else asked_ratio(cfg.target.ratio, extra["steps"])
    off = off_target_layers(extra["channels"], asked, max_layer_ratio=cfg.max_layer_ratio, round_to=cfg.round_to,
                            coupling=coupling, kept_whole=kept,
                            reasons=extra.get("kept_whole"))
    extra["layers"] = {"asked_ratio": {k: round(v, 4) for k, v in asked.items()} if per_group is not None
                       else round(asked, 4), "off_target": off}
    if off:
        # Rounding to round_to moves small layers off the ratio all the time (said, not warned); coupling that
        # keeps a layer whole or in coarse parts is what a user did not expect.
        serious = any(o["layer"] in coupling or (o["removed"] == 0 and not o["why"].startswith("round_to"))
                      for o in off)
        (ctx.log.warning if serious else ctx.log.info)(
                        f"{len(off)} layer(s) lost a share of channels far from the "
                        f"{'per-group share' if per_group is not None else f'{asked:.2f}'} asked: "
                        + "; ".join(f"{o['layer']} {o['channels'][0]}->{o['channels'][1]} ({o['why']})"
                                    for o in off[:5]) + ("; ..." if len(off) > 5 else "")
                        + "; `compress inspect` explains the coupling and suggests settings")


def target_missed_message(extra: dict[str, Any], cfg: Prune) -> str:
    """The log line for a missed target: the search's own reason (an unstable measurement, a ratio cap) when
    it gave one; otherwise the distance from the target, which channel rounding explains."""
    done = f"{extra['macs_speedup']}x MACs, {extra['params_removed']:.1%} parameters removed"
    if extra.get("target_reason"):
        return f"target not met: {extra['target_reason']} ({done})"
    return (f"target not met within {cfg.tolerance:.0%}: {done} (channel rounding to {cfg.round_to})"
            + nearest_steps_hint(extra.get("steps") or [], params=cfg.target.params_ratio is not None,
                                 round_to=cfg.round_to))


def nearest_steps_hint(steps: list[dict[str, Any]], *, params: bool = False, round_to: Any = None) -> str:
    """'; the ratio search found 2.32x (ratio 0.35) and 2.66x (ratio 0.4) on either side of 2.5x: ...' from a
    one-step prune's search trials (MACs speedups, or parameter shares removed when `params`), so a user sees
    which targets this model's channel staircase can land; '' when the trials do not bracket the goal, or for
    several steps (each step's staircase depends on the steps before it)."""
    if len(steps) != 1:
        return ""
    goal, trials = steps[0].get("goal"), steps[0].get("search") or []
    below = [t for t in trials if t["achieved"] < goal] if goal else []
    above = [t for t in trials if t["achieved"] > goal] if goal else []
    if not below or not above:
        return ""
    low, high = max(below, key=lambda t: t["achieved"]), min(above, key=lambda t: t["achieved"])
    shown = (lambda v: f"{v:.1%} of parameters removed") if params else (lambda v: f"{v:.3g}x")
    finer = ", or lower round_to" if isinstance(round_to, int) and round_to > 1 else ""
    return (f"; the ratio search found {shown(low['achieved'])} (ratio {low['ratio']:.3g}) and "
            f"{shown(high['achieved'])} (ratio {high['ratio']:.3g}) on either side of {shown(goal)}: ask for one "
            f"of them{finer}")


def _resolve_round_to(model: nn.Module, cfg: Prune, example: torch.Tensor, base: tuple[int, int],
                      ctx: StageContext) -> tuple[Prune, dict[str, Any] | None]:
    """`round_to: auto` becomes the multiple measured on the target runtime and precision (rank 0 measures
    and tells the others when every rank runs this stage); other values stay as they are."""
    if cfg.round_to != "auto":
        return cfg, None
    from toolkit.prune.precision import PruneFacts
    from toolkit.prune.round_to import choose_round_to
    from toolkit.prune.round_to_target import fit_round_to_to_target

    shared = ctx.dist is not None and cfg.trains()
    chosen = None
    if not shared or ctx.dist.is_main:
        facts = cfg.resolved if isinstance(cfg.resolved, PruneFacts) else cfg.resolve(None)
        chosen = choose_round_to(model, example, cfg.target.runtime, cfg.target.batch_size, facts,
                                 ctx.run_dir.parent / "round_to", ctx.log.info, ctx.data.num_classes)
        fit_round_to_to_target(model, example, cfg.model_copy(update={"round_to": chosen["value"]}), chosen,
                               ctx.data.num_classes, base, ctx.log.info)
    if shared:
        chosen = ctx.dist.broadcast(chosen)
    return cfg.model_copy(update={"round_to": chosen["value"]}), chosen


def prune(model: nn.Module, cfg: Prune, ctx: StageContext) -> StageResult:
    """Remove whole channels (Torch-Pruning), optionally in steps with fine-tuning between them."""
    with torch_pruning_notes(ctx.log.info):
        return _prune(model, cfg, ctx)


def _prune(model: nn.Module, cfg: Prune, ctx: StageContext) -> StageResult:
    example = ctx.example_input(1)
    model = model.cpu().eval()
    base = count_macs_params(model, example)
    cfg, round_to = _resolve_round_to(model, cfg, example, base, ctx)
    before_counts = channel_counts(model)
    coupling = coupled_parts(model, example)
    plan = _plan(cfg, ctx)
    if cfg.method == "bn_scale" and cfg.sparsity.epochs:
        from toolkit.prune.slimming import sparsity_training

        sparsity_training(model, cfg, plan, example, ctx.training_env())
    steps = []
    for step in range(1, cfg.steps + 1):
        record = _prune_step(model, cfg, plan, example, base, step, ctx)
        macs, params = count_macs_params(model, example)
        record.update(step=step, macs=macs, params=params, macs_speedup=round(base[0] / macs, 4))
        if plan.kept_whole:  # the final prune of this step: coupled groups no removal could keep usable
            record["kept_whole"] = dict(plan.kept_whole)
        ctx.log.info(f"prune step {step}/{cfg.steps}: ratio {record['ratio']}, MACs {base[0]} -> {macs} "
                     f"({base[0] / macs:.3f}x), params {base[1]} -> {params}")
        if cfg.finetune_epochs:
            opts = cfg.finetune.model_copy(update={"epochs": cfg.finetune_epochs})
            record["finetune"] = fit(model, opts, ctx.training_env(), tag=f"finetune-{step}")
            model.cpu().eval()
        steps.append(record)
    macs, params = count_macs_params(model, example)
    after_counts = channel_counts(model)
    batchnorm = None if cfg.finetune_epochs else refresh_batchnorm(  # fine-tuning already refreshed them
        model, ctx.data, ctx.device, ctx.seed, ctx.log.info, ctx.log.warning)
    model.cpu()
    extra = {"method": cfg.method, "macs_before": base[0], "macs_after": macs, "params_before": base[1],
             "params_after": params, "macs_speedup": round(base[0] / macs, 4),
             "params_removed": round(1 - params / base[1], 4), "steps": steps,
             "channels": {n: [before_counts[n], after_counts.get(n)] for n in before_counts},
             "batchnorm": batchnorm, **({"round_to": round_to} if round_to else {})}
    multiple = cfg.round_to if isinstance(cfg.round_to, int) else None
    kept = _kept_by_design(extra["channels"], cfg, ctx)
    blocked = rounding_blocked(extra["channels"], multiple, kept)
    if blocked:  # e.g. multiples of 16 on 16-channel layers: every ratio gives the same network there
        extra["round_to_blocked"] = {"multiple": multiple, "layers": blocked}
        ctx.log.info(f"round_to {cfg.round_to}: {len(blocked)} layer(s) of at most {cfg.round_to} channels cannot "
                     f"be cut at this multiple ({', '.join(blocked[:4])}{', ...' if len(blocked) > 4 else ''})")
    kept_whole = {layer: why for record in steps for layer, why in record.get("kept_whole", {}).items()}
    if kept_whole:
        extra["kept_whole"] = kept_whole
    _report_layers(extra, cfg, ctx, coupling, kept)
    t = cfg.target
    if t.latency_speedup is not None:
        extra["target_met"] = all(step.get("target_met", True) for step in steps)
        reasons = [step["target_reason"] for step in steps if step.get("target_reason")]
        if reasons:  # e.g. an unstable measurement: the target is not claimed on it
            extra["target_reason"] = reasons[-1]
        speed = pruned_vs_input(steps)  # the search's own timings: flagged like INT8 slower than fp32
        if speed is not None:
            extra["pruned_vs_input"] = speed
            for record in speed["records"]:
                if record["pruned_slower"]:
                    ctx.log.warning(slower_message(record))
    elif t.macs_speedup is not None:
        extra["target_met"] = abs(extra["macs_speedup"] / t.macs_speedup - 1) <= cfg.tolerance
    elif t.params_ratio is not None:
        extra["target_met"] = abs(extra["params_removed"] / t.params_ratio - 1) <= cfg.tolerance
    if extra.get("target_met") is False:
        ctx.log.warning(target_missed_message(extra, cfg))
    if params >= base[1]:
        raise ToolkitError("pruning removed nothing: every prunable layer is ignored or too small"
                           + (f"; round_to {cfg.round_to} keeps every layer of at most {cfg.round_to} channels whole: "
                              "set a smaller round_to" if blocked else ""))
    return StageResult(model, extra)
