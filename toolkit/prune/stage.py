"""The prune stage: remove whole channels to a ratio, MACs, parameter or latency target."""

from __future__ import annotations

import copy
import fnmatch
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from toolkit.artifacts import TORCH
from toolkit.config import StageConfig, StrictModel
from toolkit.context import StageContext, StageResult
from toolkit.errors import ToolkitError
from toolkit.measure.profile import count_macs_params
from toolkit.prune import PrunePlan, channel_counts, prune_once, search_ratio
from toolkit.prune.advice import coupled_parts
from toolkit.prune.layer_report import allocated_ratios, asked_ratio, off_target_layers
from toolkit.registry import register_stage
from toolkit.train.batchnorm import refresh_batchnorm
from toolkit.train.loop import fit
from toolkit.train.options import TrainingFields


class PruneTarget(StrictModel):
    """Exactly one of: ratio, macs_speedup, params_ratio, latency_speedup."""

    ratio: float | None = Field(None, gt=0.0, lt=1.0, description="share of channels removed per prunable layer")
    macs_speedup: float | None = Field(None, gt=1.0, le=100.0, description="original MACs / pruned MACs")
    params_ratio: float | None = Field(None, gt=0.0, lt=1.0, description="share of parameters removed")
    latency_speedup: float | None = Field(None, gt=1.0, le=100.0, description="measured latency speedup")
    runtime: str = Field("onnxruntime-cpu", description="latency_speedup: the runtime to measure on")
    batch_size: int = Field(1, ge=1, description="latency_speedup: the batch size to measure at")

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        from toolkit.registry import UnknownNameError
        from toolkit.runtimes import runtime_names

        if value not in runtime_names():
            raise ValueError(str(UnknownNameError("runtime", value, runtime_names())))
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> PruneTarget:
        chosen = [k for k in ("ratio", "macs_speedup", "params_ratio", "latency_speedup") if getattr(self, k)]
        if len(chosen) != 1:
            raise ValueError(f"give exactly one of ratio, macs_speedup, params_ratio, latency_speedup (got {chosen})")
        return self


class Sparsity(StrictModel):
    """bn_scale only: L1-regularised training of BatchNorm scales before pruning (network slimming)."""

    epochs: int = Field(0, ge=0, description="0: prune by the current BatchNorm scales")
    reg: float = Field(1e-4, gt=0.0, le=1.0)
    lr: float = Field(0.01, gt=0.0)


class SensitivityOptions(StrictModel):
    """allocation: sensitivity: the analysis the per-group ratios are chosen from (see `compress analyze`)."""

    samples: int = Field(2000, ge=1, description="validation images for top-1 (the first N)")
    ratios: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75], min_length=1,
                                description="each group is pruned alone at these ratios")
    rounds: int = Field(5, ge=1, le=50, description="timing rounds of the analysis")
    check_rounds: int = Field(3, ge=1, le=50, description="timing rounds when checking an allocation")

    @field_validator("ratios")
    @classmethod
    def _valid_ratios(cls, value: list[float]) -> list[float]:
        if any(not 0 < r < 1 for r in value):
            raise ValueError("ratios must be between 0 and 1 (exclusive)")
        return sorted(set(value))


class Prune(StageConfig):
    """Remove whole channels with Torch-Pruning's dependency graph (coupled layers stay consistent)."""

    method: Literal["l1", "l2", "taylor", "bn_scale", "lamp", "fpgm", "random"] = "l2"
    target: PruneTarget = Field(default_factory=lambda: PruneTarget(macs_speedup=2.0))
    global_pruning: bool = Field(False, alias="global", description="rank channels across layers, not per layer")
    max_layer_ratio: float = Field(0.8, gt=0.0, le=1.0, description="no layer loses more than this share")
    round_to: int | None = Field(8, ge=1, le=256, description="channel counts become multiples of this")
    ignore: list[str] = Field(default_factory=list, description="module names or globs kept whole")
    steps: int = Field(1, ge=1, le=50, description="iterative pruning in this many steps")
    finetune_epochs: int = Field(0, ge=0, description="fine-tune epochs after each step (train loop)")
    finetune: TrainingFields = Field(default_factory=lambda: TrainingFields(epochs=1, lr=0.01),
                                      description="options of the fine-tune (epochs come from finetune_epochs)")
    taylor_batches: int = Field(4, ge=1, le=1000, description="taylor: calibration batches for gradients")
    sparsity: Sparsity = Field(default_factory=Sparsity)
    tolerance: float = Field(0.05, gt=0.0, lt=0.5, description="relative tolerance of searched targets")
    allocation: Literal["uniform", "sensitivity"] = Field(
        "uniform", description="uniform: one ratio for every group; sensitivity: per-group ratios from a "
                               "sensitivity analysis, least predicted accuracy loss for the target (NetAdapt-style)")
    sensitivity: SensitivityOptions = Field(default_factory=SensitivityOptions,
                                            description="allocation: sensitivity only")

    model_config = {**StageConfig.model_config, "populate_by_name": True}

    @model_validator(mode="after")
    def _sensitivity_allocation(self) -> Prune:
        # default options are accepted: Recipe.to_yaml writes every field and must load again
        if self.allocation == "uniform" and self.sensitivity != SensitivityOptions():
            raise ValueError("sensitivity: options are used only with allocation: sensitivity (this stage's "
                             "allocation is uniform): add `allocation: sensitivity` or remove `sensitivity:`")
        if self.allocation == "sensitivity":
            if self.target.ratio is not None:
                raise ValueError("allocation: sensitivity needs a macs_speedup, params_ratio or latency_speedup "
                                 "target (a ratio target is the same ratio for every group: uniform)")
            if self.steps != 1 or self.global_pruning:
                raise ValueError("allocation: sensitivity prunes in one step with per-group ratios: set steps: 1 "
                                 "and global: false")
        return self

    def key_dict(self) -> dict[str, Any]:
        """Uniform allocation keeps the keys it had before allocation existed (caches stay valid)."""
        out = super().key_dict()
        if self.allocation == "uniform":
            out.pop("allocation", None)
            out.pop("sensitivity", None)
        return out

    @field_validator("finetune", mode="before")
    @classmethod
    def _finetune_keeps_its_defaults(cls, value: Any) -> Any:
        """Options not given keep this stage's fine-tune defaults (lr 0.01), not the train stage's (0.05)."""
        return {"epochs": 1, "lr": 0.01, **value} if isinstance(value, dict) else value

    def trains(self) -> bool:
        """Fine-tuning steps and sparsity training are training."""
        return self.finetune_epochs > 0 or (self.method == "bn_scale" and self.sparsity.epochs > 0)


def _plan(cfg: Prune, ctx: StageContext) -> PrunePlan:
    plan = PrunePlan(cfg.method, cfg.global_pruning, cfg.max_layer_ratio, cfg.round_to, list(cfg.ignore),
                     ctx.data.num_classes, ctx.seed)
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


def _step_goal(cfg: Prune, step: int) -> float:
    """Cumulative goal after `step` of cfg.steps (targets are reached geometrically)."""
    t, frac = cfg.target, step / cfg.steps
    if t.ratio is not None:
        return 1 - (1 - t.ratio) ** frac
    if t.params_ratio is not None:
        return 1 - (1 - t.params_ratio) ** frac
    return (t.macs_speedup or t.latency_speedup) ** frac


def _prune_step(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, base: tuple[int, int],
                step: int, ctx: StageContext) -> dict[str, Any]:
    t = cfg.target
    if cfg.allocation == "sensitivity":
        from toolkit.prune.sensitivity_step import sensitivity_step

        return sensitivity_step(model, cfg, plan, example, base, ctx)
    if t.latency_speedup is not None:
        from toolkit.prune.latency import latency_step

        return latency_step(model, cfg, plan, example, step, ctx)
    goal = _step_goal(cfg, step)
    if t.ratio is not None:  # per-step ratio relative to the current channel counts
        previous = _step_goal(cfg, step - 1)
        ratio = 1 - (1 - goal) / (1 - previous)
        prune_once(model, example, plan, ratio)
        return {"ratio": round(ratio, 5)}
    base_macs, base_params = base

    def achieved_at(ratio: float) -> float:
        macs, params = count_macs_params(prune_once(copy.deepcopy(model), example, plan, ratio), example)
        return base_macs / macs if t.macs_speedup is not None else 1 - params / base_params

    ratio, achieved, trials = search_ratio(achieved_at, goal, high=cfg.max_layer_ratio, tolerance=cfg.tolerance)
    prune_once(model, example, plan, ratio)
    return {"ratio": round(ratio, 5), "goal": round(goal, 5), "search": trials}


def _report_layers(extra: dict[str, Any], cfg: Prune, ctx: StageContext, coupling: dict[str, Any]) -> None:
    """Record (and warn about) layers that lost a share of channels far from the one asked."""
    if cfg.target.latency_speedup is not None:
        return
    per_group = allocated_ratios(extra["steps"])  # allocation: sensitivity asks each group its own share
    asked = per_group if per_group is not None else asked_ratio(cfg.target.ratio, extra["steps"])
    whole = {n for n, (b, _) in extra["channels"].items() if b == ctx.data.num_classes}
    whole |= {n for n in extra["channels"] if any(fnmatch.fnmatchcase(n, p) for p in cfg.ignore)}
    off = off_target_layers(extra["channels"], asked, max_layer_ratio=cfg.max_layer_ratio, round_to=cfg.round_to,
                            coupling=coupling, kept_whole=whole)
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
    return f"target not met within {cfg.tolerance:.0%}: {done} (channel rounding to {cfg.round_to})"


@register_stage("prune", Prune, needs=(TORCH,), makes=TORCH)
def prune(model: nn.Module, cfg: Prune, ctx: StageContext) -> StageResult:
    """Remove whole channels (Torch-Pruning), optionally in steps with fine-tuning between them."""
    example = ctx.example_input(1)
    model = model.cpu().eval()
    before_counts = channel_counts(model)
    coupling = coupled_parts(model, example)
    base = count_macs_params(model, example)
    plan = _plan(cfg, ctx)
    if cfg.method == "bn_scale" and cfg.sparsity.epochs:
        from toolkit.prune.slimming import sparsity_training

        sparsity_training(model, cfg, plan, example, ctx)
    steps = []
    for step in range(1, cfg.steps + 1):
        record = _prune_step(model, cfg, plan, example, base, step, ctx)
        macs, params = count_macs_params(model, example)
        record.update(step=step, macs=macs, params=params, macs_speedup=round(base[0] / macs, 4))
        ctx.log.info(f"prune step {step}/{cfg.steps}: ratio {record['ratio']}, MACs {base[0]} -> {macs} "
                     f"({base[0] / macs:.3f}x), params {base[1]} -> {params}")
        if cfg.finetune_epochs:
            opts = cfg.finetune.model_copy(update={"epochs": cfg.finetune_epochs})
            record["finetune"] = fit(model, opts, ctx, tag=f"finetune-{step}")
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
             "batchnorm": batchnorm}
    _report_layers(extra, cfg, ctx, coupling)
    t = cfg.target
    if t.latency_speedup is not None:
        extra["target_met"] = all(step.get("target_met", True) for step in steps)
        reasons = [step["target_reason"] for step in steps if step.get("target_reason")]
        if reasons:  # e.g. an unstable measurement: the target is not claimed on it
            extra["target_reason"] = reasons[-1]
    elif t.macs_speedup is not None:
        extra["target_met"] = abs(extra["macs_speedup"] / t.macs_speedup - 1) <= cfg.tolerance
    elif t.params_ratio is not None:
        extra["target_met"] = abs(extra["params_removed"] / t.params_ratio - 1) <= cfg.tolerance
    if extra.get("target_met") is False:
        ctx.log.warning(target_missed_message(extra, cfg))
    if params >= base[1]:
        raise ToolkitError("pruning removed nothing: every prunable layer is ignored or too small")
    return StageResult(model, extra)
