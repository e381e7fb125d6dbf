"""The quantize stage: INT8 Q/DQ ONNX by calibration (PTQ) or quantization-aware training (QAT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from torch import nn

from toolkit.artifacts import ONNX, ONNX_INT8, TORCH, Model, ModelArtifact
from toolkit.config import StageConfig, StrictModel
from toolkit.context import StageContext, StageResult
from toolkit.errors import UserInputError
from toolkit.measure.accuracy import evaluate
from toolkit.quantize.backend import cache_suffix, choose_backend, run_backend
from toolkit.quantize.calib_check import check_calibration
from toolkit.quantize.calibration_input import calibration_input, calibration_message
from toolkit.quantize.float_layers import float_by_quantizer, float_compute_nodes
from toolkit.quantize.ptq import BatchReader, calibration_key, preprocess, qdq_summary
from toolkit.quantize.sensitivity import keep_sensitive_in_float
from toolkit.quantize.speed_check import compare_int8_fp32
from toolkit.registry import did_you_mean, register_stage
from toolkit.runtimes import get_runtime
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
    teacher: str | int | None = Field(None, description="explicit teacher stage (name or index)")
    temperature: float = Field(4.0, gt=0.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0)


class Quantize(StageConfig):
    """INT8 as a Q/DQ ONNX model (TensorRT's explicit path) by ONNX Runtime's static quantizer, or QAT."""

    scheme: Literal["auto", "tensorrt", "cpu"] = Field(
        "auto", description="tensorrt: symmetric int8, zero points 0; cpu: uint8 activations, int8 weights; "
                            "auto: tensorrt when the recipe targets a GPU (engine stage or CUDA runtime)")
    backend: Literal["auto", "modelopt", "onnxruntime"] = Field(
        "auto", description="auto: NVIDIA ModelOpt for tensorrt (TensorRT's Q/DQ placement), ONNX Runtime for cpu")
    calibration: Calibration = Field(default_factory=Calibration)
    per_channel: bool = Field(True, description="per-channel weight scales")
    exclude: list[str] = Field(default_factory=list, description="ONNX node names kept in float")
    max_accuracy_drop: float | None = Field(None, ge=0.0, le=100.0,
                                            description="top-1 points; beyond it sensitive layers stay float")
    max_float_layers: int = Field(8, ge=1, le=1000, description="at most this many layers kept in float")
    sensitivity_samples: int | None = Field(1000, ge=1, description="validation images for the sensitivity scan")
    qat: Qat | None = Field(None, description="quantization-aware training instead of calibration only")
    cache_dir: Path = Field(Path("calibration"), description="calibration caches (relative to the working dir)")

    def trains(self) -> bool:
        """QAT is training."""
        return self.qat is not None

    def resolve(self, recipe) -> dict[str, Any]:
        """The scheme (with `auto` it depends on the recipe's engine stage and runtimes) and why; QAT's teacher:
        an explicit qat.teacher, else the teacher of the last distill stage before this one, else none."""
        from toolkit.distill.teacher import teacher_position

        scheme, why = resolve_scheme(self, recipe)
        ref = None
        if self.qat is not None and self.qat.distill:
            ref = self.qat.teacher
            if ref is None:
                mine = next((i for i, s in enumerate(recipe.stages) if s is self), len(recipe.stages))
                distills = [s for s in recipe.stages[:mine] if s.stage_type == "distill"]
                ref = (distills[-1].teacher if distills[-1].teacher is not None else "__default__") if distills \
                    else None
            if hasattr(ref, "model_dump"):
                ref = ref.model_dump(mode="json")
        teacher = teacher_position(self.qat.teacher, recipe) if self.qat is not None else None
        return {"scheme": scheme, "scheme_reason": why, "qat_teacher": teacher, "qat_teacher_ref": ref}

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """QAT trains, so it needs a torch model."""
        current = earlier[-1][2] if earlier else TORCH
        if self.qat is not None and current != TORCH:
            return [("qat", f"QAT trains a torch model, but the model before this stage is {current}; "
                            f"put quantize before export or drop qat")]
        ref = self.qat.teacher if self.qat is not None else None
        names = [n for n, _, _ in earlier]
        if isinstance(ref, int) and not 0 <= ref < len(earlier):
            return [("qat.teacher", f"stage index {ref} is not an earlier stage (0..{len(earlier) - 1})")]
        if isinstance(ref, str) and ref != "input" and ref not in names:
            return [("qat.teacher", f"no earlier stage named '{ref}'{did_you_mean(ref, names)}; earlier: {names}")]
        return []

    def check_recipe(self, recipe) -> list[tuple[str, str]]:
        """Refuse, before any compute, a backend that cannot make the scheme the stage will resolve (with
        `auto`, tensorrt when the recipe has an engine stage or a GPU runtime): same functions as the stage."""
        if self.qat is not None:  # QAT exports its own Q/DQ; no PTQ backend is chosen
            return []
        try:
            choose_backend(self.backend, resolve_scheme(self, recipe)[0], self.calibration.method, self.per_channel)
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
    return "cpu", "auto: the recipe targets CPU runtimes only"


def onnx_top1(path: Path, ctx: StageContext, limit: int | None) -> float:
    """Top-1 of an ONNX file on ONNX Runtime's CPU provider over (a prefix of) the validation split."""
    session = get_runtime("onnxruntime-cpu").load(ModelArtifact(ONNX, path))
    return evaluate(session.predict, ctx.data.val_batches(limit=limit), ctx.data.num_classes)["top1"]


def _fp32_onnx(model: Model, ctx: StageContext) -> tuple[Path, dict[str, Any]]:
    if isinstance(model, nn.Module):
        from toolkit.export.checked import export_model

        artifact, facts = export_model(model, ctx.stage_dir, ctx.data, ctx.log, "model.fp32.onnx")
        return artifact.path, facts
    return model.path, {"source": str(model.path)}


@register_stage("quantize", Quantize, needs=(TORCH, ONNX), makes=ONNX_INT8)
def quantize_stage(model: Model, cfg: Quantize, ctx: StageContext) -> StageResult:
    """INT8 Q/DQ ONNX: calibrate (cached), quantize, and keep sensitive layers in float if accuracy demands."""
    scheme, why = (cfg.resolved["scheme"], cfg.resolved["scheme_reason"]) if cfg.resolved else \
        resolve_scheme(cfg, None)
    if cfg.qat is not None:
        from toolkit.quantize.qat_train import run_qat

        return StageResult(*run_qat(model, cfg, ctx, scheme, why))
    fp32, export_facts = _fp32_onnx(model, ctx)
    prep = ctx.stage_dir / "model.prep.onnx"
    preprocess(fp32, prep)
    calib = cfg.calibration
    backend = choose_backend(cfg.backend, scheme, calib.method, cfg.per_channel)
    settings = {"method": calib.method, "samples": calib.samples, "percentile": calib.percentile,
                "batch_size": calib.batch_size, "seed": ctx.seed}
    if backend.name == "modelopt":  # its cached scales cover only the nodes it quantized
        settings.update(backend="modelopt", exclude=sorted(cfg.exclude))
    cache_dir = Path(cfg.cache_dir) if ctx.cache_ok else ctx.stage_dir  # unkeyable inputs: a private cache
    cache_file = cache_dir / f"{calibration_key(prep, settings, {'data': ctx.data_key})}{cache_suffix(backend)}"
    batches, used = calibration_input(ctx, calib)
    reader = BatchReader(batches, "input")
    for warning in check_calibration(prep, reader.batches[:1]):  # names a NaN tensor instead of ORT's "scale issue"
        ctx.log.warning(warning)  # a constant (dead) activation quantizes; the user should still hear of it
    out = ctx.stage_dir / "model.int8.onnx"
    common = dict(scheme=scheme, method=calib.method, percentile=calib.percentile, per_channel=cfg.per_channel,
                  cache_file=cache_file)
    result = run_backend(backend, prep, out, reader=reader, exclude=cfg.exclude, **common)
    ctx.log.info(calibration_message(used, calib.method, result.cache_hit, result.batches_read))
    ctx.log.info(f"int8 ({scheme} by {backend.name} {backend.version}, {calib.method}): calibration cache "
                 f"{'hit' if result.cache_hit else 'written'}: {cache_file}")
    fp32_top1 = onnx_top1(prep, ctx, cfg.sensitivity_samples)
    int8_top1 = onnx_top1(out, ctx, cfg.sensitivity_samples)
    extra: dict[str, Any] = {
        "scheme": scheme, "scheme_reason": why, "quantizer": backend.record(), "per_channel": cfg.per_channel,
        "export": export_facts,
        "calibration": {**settings, "cache_file": str(cache_file), "cache_hit": result.cache_hit,
                        "batches_read": result.batches_read, "split": "train", **used},
        "fp32_top1": fp32_top1, "int8_top1_before_fallback": int8_top1,
        "drop_points": round((fp32_top1 - int8_top1) * 100, 3), "kept_float": [
            {"node": n, "why": "listed in quantize.exclude"} for n in cfg.exclude]}
    if cfg.max_accuracy_drop is not None:
        extra["max_accuracy_drop"] = cfg.max_accuracy_drop
        extra["bound_met"] = extra["drop_points"] <= cfg.max_accuracy_drop
        if not extra["bound_met"]:
            ctx.log.info(f"int8 drops {extra['drop_points']} points > {cfg.max_accuracy_drop}; ranking layers")
            already_float = cfg.exclude + [r["node"] for r in float_compute_nodes(out)]
            fallback = keep_sensitive_in_float(
                lambda exclude, path: run_backend(backend, prep, path, exclude=cfg.exclude + exclude, **common,
                                                  reader=reader if backend.name == "modelopt" else None),
                lambda path: onnx_top1(path, ctx, cfg.sensitivity_samples), prep, out, ctx.stage_dir,
                fp32_top1=fp32_top1, int8_top1=int8_top1, max_drop_points=cfg.max_accuracy_drop,
                max_float_layers=cfg.max_float_layers, log=ctx.log.info, already_float=already_float)
            extra["kept_float"] += fallback["kept_float"]
            extra.update(bound_met=fallback["bound_met"], sensitivity=fallback["sensitivity"],
                         drop_points=round((fp32_top1 - fallback["int8_top1"]) * 100, 3))
            if not fallback["bound_met"]:
                ctx.log.warning(f"accuracy bound missed: the best model found drops {extra['drop_points']} points "
                                f"with {len(fallback['kept_float'])} layer(s) in float; it is saved")
    prep.unlink(missing_ok=True)
    extra["qdq"] = qdq_summary(out)
    extra["float_by_quantizer"] = float_by_quantizer(out, [k["node"] for k in extra["kept_float"]])
    if extra["float_by_quantizer"]:
        ctx.log.info(f"left in float by {backend.name} itself: "
                     f"{', '.join(r['node'] for r in extra['float_by_quantizer'])}")
    if scheme == "tensorrt":
        from toolkit.quantize.placement import log_placement

        extra["placement"] = log_placement(out, [k["node"] for k in extra["kept_float"]], ctx.log)
    extra["int8_vs_fp32"] = compare_int8_fp32(fp32, out, ctx.data, ctx.measure, ctx.log)
    return StageResult(ModelArtifact(ONNX_INT8, out), extra)
