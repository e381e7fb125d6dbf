"""The engine stage: TensorRT engines from the run's ONNX models, for desktop GPUs and Jetson (TRT 10 and 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from toolkit.artifacts import ONNX_INT8, TENSORRT, Model, ModelArtifact
from toolkit.context import StageContext, StageResult
from toolkit.engine.config import Engine
from toolkit.engine.plan import build_plan, profile_shapes, trt_major, trtexec_command
from toolkit.errors import StageSkipped, ToolkitError
from toolkit.fsutil import atomic_write_json


def tensorrt_unavailable() -> str | None:
    """Why no engine can be built here, or None."""
    from toolkit.runtimes import get_runtime

    return get_runtime("tensorrt").unavailable()


def _fp32_onnx(model: Model, ctx: StageContext) -> Path:
    """The fp32 ONNX of this model: from an earlier export/quantize folder, or exported now."""
    for stage in reversed(ctx.earlier):
        for name in ("model.fp32.onnx", "model.onnx"):
            if (stage.directory / name).is_file():
                return stage.directory / name
    if isinstance(model, nn.Module):
        from toolkit.convert.checked import export_model

        return export_model(model, ctx.stage_dir, ctx.data, ctx.log, "model.fp32.onnx")[0].path
    raise ToolkitError("engine: no fp32 ONNX model in this run to build an fp16/fp32 engine from")


def _source(precision: str, plan, model: Model, ctx: StageContext) -> Path:
    if plan.onnx_source == "int8":
        if isinstance(model, ModelArtifact) and model.format == ONNX_INT8:
            return model.path
        raise ToolkitError("engine: the int8 engine needs the Q/DQ model from a quantize stage")
    fp32 = _fp32_onnx(model, ctx)
    if plan.onnx_source == "fp16":
        from toolkit.engine.fp16 import convert_to_fp16

        target = ctx.stage_dir / "model.fp16.onnx"
        if not target.is_file():
            convert_to_fp16(fp32, target)
        return target
    return fp32


def engine(model: Model, cfg: Engine, ctx: StageContext) -> StageResult:
    """Build TensorRT engines (skipped, with the reason, where TensorRT or a GPU is missing)."""
    reason = tensorrt_unavailable()
    if reason:
        raise StageSkipped(reason)
    import tensorrt as trt

    from toolkit.engine.build import build_engine
    from toolkit.measure.device import describe_device, device_slug
    from toolkit.measure.latency import time_device
    from toolkit.runtimes.tensorrt_rt import TensorRTSession

    major = trt_major(trt.__version__)
    chw = tuple(ctx.data.input_shape)
    shapes = profile_shapes(cfg.batch_sizes or ctx.measure.batch_sizes, chw)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir is not None else ctx.run_dir.parent / "calibration"
    cache = cache_dir / f"tensorrt-{trt.__version__}-{device_slug(describe_device())}.timing" \
        if cfg.timing_cache else None
    built: list[dict[str, Any]] = []
    for precision in dict.fromkeys([cfg.precision, *cfg.compare]):
        plan = build_plan(precision, major, cfg.calibration, cfg.fp16_by)
        for warning in plan.warnings:
            ctx.log.warning(warning)
        source = _source(precision, plan, model, ctx)
        path = ctx.stage_dir / ("model.engine" if precision == cfg.precision else f"model.{precision}.engine")
        if cfg.builder == "trtexec":
            from toolkit.engine.trtexec import run_trtexec, trtexec_path

            cmd = trtexec_command(plan, source, path, shapes, workspace_mib=cfg.workspace_mib, timing_cache=cache,
                                  dla_core=cfg.dla_core, opt_level=cfg.opt_level,
                                  export_dir=ctx.stage_dir / f"trtexec-{precision}")
            cmd[0] = trtexec_path()
            facts = {"precision": precision, "build_path": plan.path_name, "tensorrt_version": trt.__version__,
                     **run_trtexec(cmd, ctx.stage_dir / f"trtexec-{precision}", ctx.log.info)}
        else:
            calib = ctx.data.calibration_batches(512, 32, ctx.seed) if plan.calibrator else None
            facts = build_engine(source, path, plan, shapes, workspace_mib=cfg.workspace_mib, timing_cache=cache,
                                 dla_core=cfg.dla_core, opt_level=cfg.opt_level, calibration_batches=calib,
                                 calibration_cache=ctx.stage_dir / "int8.calibration", log=ctx.log.info)
        session = TensorRTSession(path.read_bytes(), precision)
        images = ctx.example_input(shapes["opt"][0]).numpy()
        facts["p50_ms"] = time_device(lambda n: session.time_ms(images, n), ctx.measure)["p50_ms"]
        facts["timed_batch"] = shapes["opt"][0]
        facts["source"] = source.name
        built.append(facts)
    by_precision = {b["precision"]: b for b in built}
    if "int8" in by_precision and "fp16" in by_precision and \
            by_precision["int8"]["p50_ms"] >= by_precision["fp16"]["p50_ms"]:
        note = (f"the int8 engine ({by_precision['int8']['p50_ms']:.3f} ms) is not faster than fp16 "
                f"({by_precision['fp16']['p50_ms']:.3f} ms) at batch {shapes['opt'][0]}")
        by_precision["int8"]["note"] = note
        ctx.log.warning(note + ": check which layers run int8 (layer_precisions) and the Q/DQ placement")
    main = by_precision[cfg.precision]
    settings = {"precision": cfg.precision, "shapes": {k: list(v) for k, v in shapes.items()},
                "workspace_mib": cfg.workspace_mib, "opt_level": cfg.opt_level, "dla_core": cfg.dla_core,
                "builder": cfg.builder, "timing_cache": str(cache) if cache else None, "tensorrt": trt.__version__}
    atomic_write_json(ctx.stage_dir / "engine.json", settings)
    extra = {"engines": built, "layer_precisions": main.get("layer_precisions", {}), "settings": settings,
             "tensorrt_version": trt.__version__}
    return StageResult(ModelArtifact(TENSORRT, ctx.stage_dir / "model.engine", {"precision": cfg.precision}), extra,
                       {"settings": "engine.json"})
