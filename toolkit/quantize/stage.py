"""The quantize stage: INT8 Q/DQ ONNX by calibration (PTQ) or quantization-aware training (QAT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from toolkit.artifacts import ONNX, ONNX_INT8, Model, ModelArtifact
from toolkit.config import ModelSpec
from toolkit.context import StageContext, StageResult
from toolkit.distill.teacher import load_teacher, teacher_record
from toolkit.measure.accuracy import evaluate
from toolkit.quantize.backend import cache_suffix, choose_backend, run_backend
from toolkit.quantize.calib_check import check_calibration
from toolkit.quantize.calibration_input import calibration_input, calibration_message
from toolkit.quantize.config import Quantize, QuantizeFacts
from toolkit.quantize.float_fallback import keep_sensitive_in_float
from toolkit.quantize.float_layers import float_by_quantizer, float_compute_nodes
from toolkit.quantize.ptq import BatchReader, calibration_key, preprocess, qdq_summary
from toolkit.quantize.speed_check import compare_int8_fp32
from toolkit.runtimes import get_runtime


def onnx_top1(path: Path, ctx: StageContext, limit: int | None) -> float:
    """Top-1 of an ONNX file on ONNX Runtime's CPU provider over (a prefix of) the validation split."""
    session = get_runtime("onnxruntime-cpu").load(ModelArtifact(ONNX, path))
    return evaluate(session.predict, ctx.data.val_batches(limit=limit), ctx.data.num_classes)["top1"]


def _fp32_onnx(model: Model, ctx: StageContext) -> tuple[Path, dict[str, Any]]:
    if isinstance(model, nn.Module):
        from toolkit.convert.checked import export_model

        artifact, facts = export_model(model, ctx.stage_dir, ctx.data, ctx.log, "model.fp32.onnx")
        return artifact.path, facts
    return model.path, {"source": str(model.path)}


def quantize_stage(model: Model, cfg: Quantize, ctx: StageContext) -> StageResult:
    """INT8 Q/DQ ONNX: calibrate (cached), quantize, and keep sensitive layers in float if accuracy demands."""
    facts = cfg.resolved if isinstance(cfg.resolved, QuantizeFacts) else cfg.resolve(None)
    scheme, why = facts.scheme, facts.scheme_reason
    if cfg.qat is not None:
        from toolkit.quantize.qat_train import run_qat

        choice = facts.qat_teacher  # resolved with the recipe; None: QAT does not distil
        teacher = None if choice is None else load_teacher(
            choice.ref, ctx.earlier, ctx.input_spec or ModelSpec(**ctx.model_spec["model"]),
            ctx.data.num_classes, ctx.data.input_shape)
        name = None if choice is None else "default" if choice.ref is None else teacher_record(choice.ref, ctx.earlier)
        artifact, extra = run_qat(model, cfg, ctx.training_env(), ctx.stage_dir / "model.int8.onnx", scheme, why,
                                  teacher, name)
        if artifact is not None:  # rank 0: is the QAT model faster than its fp32 source on the CPU runtimes?
            fp32, _ = _fp32_onnx(model, ctx)
            extra["int8_vs_fp32"] = compare_int8_fp32(fp32, artifact.path, ctx.data, ctx.measure, ctx.log)
        return StageResult(artifact, extra)
    fp32, export_facts = _fp32_onnx(model, ctx)
    prep = ctx.stage_dir / "model.prep.onnx"
    preprocess(fp32, prep)
    calib = cfg.calibration
    backend = choose_backend(cfg.backend, scheme, calib.method, cfg.per_channel)
    settings = {"method": calib.method, "samples": calib.samples, "percentile": calib.percentile,
                "batch_size": calib.batch_size, "seed": ctx.seed}
    if backend.name == "modelopt":  # its cached scales cover only the nodes it quantized
        settings.update(backend="modelopt", exclude=sorted(cfg.exclude))
    shared_dir = Path(cfg.cache_dir) if cfg.cache_dir is not None else ctx.run_dir.parent / "calibration"
    cache_dir = shared_dir if ctx.cache_ok else ctx.stage_dir  # unkeyable inputs: a private cache
    suffix = cache_suffix(backend)
    cache_file = None if suffix is None else \
        cache_dir / f"{calibration_key(prep, settings, {'data': ctx.data_key})}{suffix}"
    batches, used = calibration_input(ctx.data, calib, ctx.seed, ctx.log)
    reader = BatchReader(batches, "input")
    for warning in check_calibration(prep, reader.batches[:1]):  # names a NaN tensor instead of ORT's "scale issue"
        ctx.log.warning(warning)  # a constant (dead) activation quantizes; the user should still hear of it
    out = ctx.stage_dir / "model.int8.onnx"
    common = dict(scheme=scheme, method=calib.method, percentile=calib.percentile, per_channel=cfg.per_channel,
                  cache_file=cache_file)
    result = run_backend(backend, prep, out, reader=reader, exclude=cfg.exclude, **common)
    ctx.log.info(calibration_message(used, calib.method, result.cache_hit, result.batches_read))
    ctx.log.info(f"int8 ({scheme} by {backend.name} {backend.version}, {calib.method}): calibration cache "
                 + (f"{'hit' if result.cache_hit else 'written'}: {cache_file}" if cache_file else
                    f"none ({backend.name} keeps none)"))
    fp32_top1 = onnx_top1(prep, ctx, cfg.sensitivity_samples)
    int8_top1 = onnx_top1(out, ctx, cfg.sensitivity_samples)
    extra: dict[str, Any] = {
        "scheme": scheme, "scheme_reason": why, "quantizer": backend.record(), "per_channel": cfg.per_channel,
        "export": export_facts,
        "calibration": {**settings, "cache_file": str(cache_file) if cache_file else None,
                        "cache_hit": result.cache_hit,
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
                                                  reader=None if backend.name == "onnxruntime" else reader),
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
