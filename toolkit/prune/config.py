"""The prune stage's options (no torch: recipes validate without it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from toolkit.config import StageConfig, StageFacts, StrictModel
from toolkit.train.options import TrainingFields


class PruneTarget(StrictModel):
    """Exactly one of: ratio, macs_speedup, params_ratio, latency_speedup."""

    ratio: float | None = Field(None, gt=0.0, lt=1.0, description="share of channels removed per prunable layer")
    macs_speedup: float | None = Field(None, gt=1.0, le=100.0, description="original MACs / pruned MACs")
    params_ratio: float | None = Field(None, gt=0.0, lt=1.0, description="share of parameters removed")
    latency_speedup: float | None = Field(None, gt=1.0, le=100.0, description="measured latency speedup")
    runtime: str = Field("onnxruntime-cpu", description="latency_speedup and round_to: auto: the runtime to "
                                                                 "measure on")
    batch_size: int = Field(1, ge=1, description="latency_speedup and round_to: auto: the batch size "
                                                                   "to measure at")
    precision: Literal["fp32", "fp16", "int8"] | None = Field(
        None, description="latency_speedup: the precision candidates are timed in; null: the precision the recipe "
                          "ships (int8 with the recipe's quantize scheme when a quantize stage follows, fp16 when "
                          "an fp16 engine follows, else fp32)")

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
    round_to: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] | None = Field(
        8, description="channel counts become multiples of this; auto: the multiple measured fastest on "
                       "target.runtime in target.precision (a table where nothing can be timed)")
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

    @field_validator("round_to", mode="before")
    @classmethod
    def _round_to_word(cls, value: Any) -> Any:
        """One plain message for anything but a multiple, auto or null (pydantic would list each branch of the
        union); true is not taken for 1."""
        if value is None or value == "auto" or (type(value) is int and 1 <= value <= 256):
            return value
        raise ValueError("round_to is a channel multiple (1 to 256), auto (measured) or null")

    @model_validator(mode="before")
    @classmethod
    def _finetune_epochs_for_averaging(cls, data: Any) -> Any:
        # finetune.epochs is replaced by finetune_epochs at run time; weight averaging is checked against it
        # (at least swa_epochs, so that a refusal names finetune_epochs, the field the user sets, not epochs)
        fine = data.get("finetune") if isinstance(data, dict) else None
        if isinstance(fine, dict) and type(fine.get("swa_epochs")) is int and fine["swa_epochs"] > 0 \
                and "epochs" not in fine:
            runs = data.get("finetune_epochs") if type(data.get("finetune_epochs")) is int else 0
            return {**data, "finetune": {**fine, "epochs": max(runs, fine["swa_epochs"])}}
        return data

    @model_validator(mode="after")
    def _averaging_fits_the_finetune(self) -> Prune:
        if self.finetune.swa_epochs > self.finetune_epochs:
            raise ValueError(f"finetune.swa_epochs ({self.finetune.swa_epochs}) must be <= finetune_epochs "
                             f"({self.finetune_epochs}), the epochs the fine-tune runs")
        return self

    @model_validator(mode="after")
    def _precision_is_timed(self) -> Prune:
        t = self.target
        if t.precision is not None and t.latency_speedup is None and self.round_to != "auto":
            kind = next(k for k in ("ratio", "macs_speedup", "params_ratio") if getattr(t, k) is not None)
            raise ValueError(f"target.precision is the precision a latency_speedup target (or round_to: auto) is "
                             f"timed in; this target is {kind}, which is counted, not timed: drop precision")
        return self

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

    def resolve(self, recipe) -> StageFacts | None:
        """The precision a latency target or `round_to: auto` times in (toolkit.prune.precision): as set, else the
        precision the recipe ships."""
        if self.target.latency_speedup is None and self.round_to != "auto":
            return None
        from toolkit.prune.precision import resolve_precision

        return resolve_precision(self, recipe)

    def check_recipe(self, recipe) -> list[tuple[str, str]]:
        """Refuse, before any compute, a latency target in a precision its runtime cannot run."""
        if self.target.latency_speedup is None:
            return []
        from toolkit.prune.precision import PruneFacts, precision_problem

        facts = self.resolved if isinstance(self.resolved, PruneFacts) else self.resolve(recipe)  # set with the recipe
        if self.allocation == "sensitivity" and facts.precision != "fp32":
            return [("target.precision", "allocation: sensitivity times its latency table in fp32 only; set "
                                         "precision: fp32, or use allocation: uniform for an int8 or fp16 target")]
        problem = precision_problem(self.target.runtime, facts.precision)
        return [("target.precision", f"{facts.precision} ({facts.precision_reason}): {problem}")] if problem else []

    def facts_key(self) -> dict[str, Any]:
        """The resolved precision and scheme, not the sentences saying why: renaming the quantize stage that
        follows must not recompute this one."""
        return {k: v for k, v in super().facts_key().items() if not k.endswith("_reason")}

    def key_dict(self) -> dict[str, Any]:
        """Uniform allocation keeps the keys it had before allocation existed (caches stay valid); so does a
        target without a precision in its options (a latency target's resolved precision is in the facts key,
        so its key changed once, when precisions came)."""
        out = super().key_dict()
        if out["target"].get("precision") is None:
            out["target"].pop("precision", None)
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
