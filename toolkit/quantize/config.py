"""The quantize stage's options and its scheme resolution (no torch: recipes validate without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from toolkit.artifacts import TORCH
from toolkit.config import ModelSpec, StageConfig, StageFacts, StrictModel
from toolkit.errors import UserInputError
from toolkit.train.options import TrainingFields


class Calibration(StrictModel):
    """Post-training calibration: images from the train split (never validation), fixed by the seed."""

    samples: int = Field(512, ge=1, le=1_000_000)
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    percentile: float = Field(99.99, gt=50.0, lt=100.0, description="percentile method only")
    batch_size: int = Field(32, ge=1, le=4096)


class Qat(TrainingFields):
    """Quantization-aware fine-tuning of the fake-quantized model (the train loop), then Q/DQ export."""

    epochs: int = Field(2, gt=0, le=10000)
    lr: float = Field(0.001, gt=0.0, le=10.0)
    distill: bool = Field(True, description="distil from the recipe's teacher when an earlier distill stage has one")
    teacher: str | int | list[str | int] | None = Field(
        None, description="explicit teacher stage (name or index), or a list of them: an ensemble whose mean "
                          "logits teach; an external model teaches through a distill stage, whose teacher QAT inherits")
    temperature: float = Field(4.0, gt=0.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0)
    swa_epochs: int = Field(0, ge=0, description="must stay 0: averaged weights leave the int8 grid QAT learned")
    swa_lr: float | None = Field(None, gt=0.0, description="must stay null: no weight averaging in QAT")
    swa_cycle_epochs: int = Field(0, ge=0, description="must stay 0: no weight averaging in QAT")

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher_stages(cls, value: Any) -> Any:
        def stage_ref(item: Any) -> bool:
            return isinstance(item, (str, int)) and not isinstance(item, bool)

        if isinstance(value, list):
            if len(value) < 2:
                raise ValueError("an ensemble lists at least two teacher stages; give a single one without the list")
            bad = next((i for i, item in enumerate(value) if not stage_ref(item)), None)
            if bad is not None:
                raise ValueError(f"[{bad}]: an earlier stage's name or index (an external model teaches QAT "
                                 f"through a distill stage before it)")
        elif value is not None and not stage_ref(value):
            raise ValueError("an earlier stage's name or index, or a list of them; an external model teaches QAT "
                             "through a distill stage before it, whose teacher QAT inherits")
        return value

    @model_validator(mode="after")
    def _no_weight_averaging(self) -> Qat:
        if self.swa_epochs:
            # An average of fake-quantized weights is not on the quantization grid the observers learned.
            raise ValueError("swa_epochs is not supported in QAT (averaged weights leave the learned int8 grid); "
                             "average in an earlier train or distill stage")
        return self


class QatTeacher(StrictModel):
    """The model QAT distils from: an earlier stage (name or 0-based index), 'input', a model spec, or None for
    the run's default teacher (the last model before the first prune stage)."""

    ref: str | int | ModelSpec | list[str | int | ModelSpec] | None = None  # a list: an ensemble


class QuantizeFacts(StageFacts):
    """What the quantize stage takes from the recipe: the scheme `auto` resolves to and why, and QAT's teacher
    (None: QAT does not distil) with its recipe position (part of the cache key: renaming stages changes it)."""

    scheme: Literal["tensorrt", "cpu", "openvino"]
    scheme_reason: str
    qat_teacher_position: int | str | list[int | str] | None = None
    qat_teacher: QatTeacher | None = None


class Quantize(StageConfig):
    """INT8 as a Q/DQ ONNX model, made by the target runtime's own quantizer (PTQ), or by QAT."""

    scheme: Literal["auto", "tensorrt", "openvino", "cpu"] = Field(
        "auto", description="tensorrt: symmetric int8, zero points 0, TensorRT's placement; openvino: NNCF's int8 "
                            "(uint8 activations, zero points 0), OpenVINO's placement; "
                            "cpu: uint8 activations, int8 weights (ONNX Runtime); "
                            "auto: tensorrt when the recipe targets a GPU (engine stage or CUDA runtime), "
                            "openvino when it measures on OpenVINO only, else cpu")
    backend: Literal["auto", "modelopt", "nncf", "onnxruntime"] = Field(
        "auto", description="auto: NVIDIA ModelOpt for tensorrt (TensorRT's Q/DQ placement; its PyTorch "
                            "quantization for QAT), NNCF for openvino, ONNX Runtime for cpu (torch.ao for QAT)")
    calibration: Calibration = Field(default_factory=Calibration)
    per_channel: bool = Field(True, description="per-channel weight scales")
    exclude: list[str] = Field(default_factory=list, description="ONNX node names kept in float")
    max_accuracy_drop: float | None = Field(None, ge=0.0, le=100.0,
                                            description="top-1 points; beyond it sensitive layers stay float")
    max_float_layers: int = Field(8, ge=1, le=1000, description="at most this many layers kept in float")
    sensitivity_samples: int | None = Field(1000, ge=1, description="validation images for the sensitivity scan")
    qat: Qat | None = Field(None, description="quantization-aware training instead of calibration only")
    cache_dir: Path | None = Field(None, description="calibration caches (a relative path: from the working "
                                                     "directory); null: <output>/calibration, beside the run folders")

    def trains(self) -> bool:
        """QAT is training."""
        return self.qat is not None

    def resolve(self, recipe) -> QuantizeFacts:
        """The scheme (with `auto` it depends on the recipe's engine stage and runtimes) and why; QAT's teacher:
        an explicit qat.teacher, else the teacher of the last distill stage before this one, else none."""
        from toolkit.distill.config import teacher_position

        scheme, why = resolve_scheme(self, recipe)
        teacher = None
        if self.qat is not None and self.qat.distill and recipe is not None:
            if self.qat.teacher is not None:
                teacher = QatTeacher(ref=self.qat.teacher)
            else:
                mine = next((i for i, s in enumerate(recipe.stages) if s is self), len(recipe.stages))
                distills = [s for s in recipe.stages[:mine] if s.stage_type == "distill"]
                if distills:  # that stage's teacher; its own default (None) is the run's default teacher
                    teacher = QatTeacher(ref=distills[-1].teacher)
        position = teacher_position(self.qat.teacher, recipe) if self.qat is not None and recipe is not None \
            else None
        return QuantizeFacts(scheme=scheme, scheme_reason=why, qat_teacher_position=position, qat_teacher=teacher)

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """QAT trains, so it needs a torch model."""
        current = earlier[-1][2] if earlier else TORCH
        if self.qat is not None and current != TORCH:
            return [("qat", f"QAT trains a torch model, but the model before this stage is {current}; "
                            f"put quantize before export or drop qat")]
        from toolkit.distill.config import check_teacher_ref, repeated_teachers

        ref = self.qat.teacher if self.qat is not None else None
        if isinstance(ref, list):
            problems = [problem for i, member in enumerate(ref)
                        for problem in check_teacher_ref(f"qat.teacher[{i}]", member, earlier)]
            return problems + repeated_teachers("qat.teacher", ref, earlier)
        return check_teacher_ref("qat.teacher", ref, earlier)

    def check_recipe(self, recipe) -> list[tuple[str, str]]:
        """Refuse, before any compute, a backend that cannot make the scheme the stage will resolve (with
        `auto`, tensorrt when the recipe has an engine stage or a GPU runtime): same functions as the stage."""
        scheme = resolve_scheme(self, recipe)[0]
        if scheme == "openvino" and recipe is not None and any(
                s.stage_type == "engine" and getattr(s, "precision", None) == "int8" for s in recipe.stages):
            return [("scheme", "the openvino scheme (NNCF) stores unsigned int8 activations, which TensorRT's "
                               "explicit quantization does not accept; before an engine stage use scheme: tensorrt "
                               "(or auto)")]
        if self.qat is not None and scheme == "openvino":
            return [("qat", "QAT (ModelOpt or torch.ao fake-quant) makes the tensorrt or cpu scheme, not NNCF's "
                            "openvino placement; use post-training quantization for openvino, or scheme: cpu "
                            "with qat")]
        if self.qat is not None and (self.exclude or self.max_accuracy_drop is not None):
            field = "exclude" if self.exclude else "max_accuracy_drop"
            return [(field, "QAT trains every layer quantized; exclude and max_accuracy_drop choose float layers "
                            "for post-training quantization only; drop qat or this field")]
        from toolkit.quantize.backend import choose_backend, choose_qat_backend  # only when validating

        try:
            if self.qat is not None:  # QAT exports its own Q/DQ; no PTQ backend is chosen
                choose_qat_backend(self.backend, scheme)
            else:
                choose_backend(self.backend, scheme, self.calibration.method, self.per_channel)
        except UserInputError as exc:
            field, _, message = str(exc).partition(": ")
            return [(field.removeprefix("quantize.") if field.startswith("quantize.") else "", message or str(exc))]
        return []


def resolve_scheme(cfg: Quantize, recipe) -> tuple[str, str]:
    """The scheme and why it was chosen."""
    if cfg.scheme != "auto":
        return cfg.scheme, "set in the recipe"
    if recipe is None:
        return "cpu", "auto: outside a recipe, CPU runtimes"
    if any(s.stage_type == "engine" for s in recipe.stages):
        return "tensorrt", "auto: the recipe builds a TensorRT engine"
    if any("cuda" in r or "tensorrt" in r for r in recipe.measure.runtimes):
        return "tensorrt", "auto: the recipe measures on a GPU runtime"
    if recipe.measure.runtimes and all(r.startswith("openvino") for r in recipe.measure.runtimes):
        return "openvino", "auto: the recipe measures on OpenVINO only"
    return "cpu", "auto: the recipe targets CPU runtimes only"
