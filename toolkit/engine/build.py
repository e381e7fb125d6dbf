"""Build a TensorRT engine with the TensorRT Python API (needs `tensorrt` and a CUDA GPU)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from toolkit.engine.plan import BuildPlan, precision_counts
from toolkit.errors import ToolkitError
from toolkit.fsutil import atomic_path


def _entropy2_calibrator(trt, batches: list, cache_file: Path):
    """The deprecated implicit-INT8 calibrator (TensorRT < 11 only), fed from torch CUDA tensors."""
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches, self.index, self.current = batches, 0, None

        def get_batch_size(self):
            return int(self.batches[0].shape[0]) if self.batches else 1

        def get_batch(self, names):
            if self.index >= len(self.batches):
                return None
            self.current = self.batches[self.index].to("cuda", torch.float32).contiguous()
            self.index += 1
            return [int(self.current.data_ptr())]

        def read_calibration_cache(self):
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache):
            with atomic_path(cache_file) as tmp:
                tmp.write_bytes(bytes(cache))

    return Calibrator()


def build_engine(onnx_path: Path, engine_path: Path, plan: BuildPlan, shapes: dict[str, tuple[int, ...]], *,
                 workspace_mib: int, timing_cache: Path | None, dla_core: int | None, opt_level: int | None,
                 calibration_batches: list | None = None, calibration_cache: Path | None = None,
                 log=print) -> dict[str, Any]:
    """Parse, configure and build; save the engine and the timing cache; return build facts and layer precisions."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if plan.strongly_typed and plan.major < 11:  # 11.x: always strongly typed, the flag is deprecated
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ToolkitError(f"TensorRT could not parse {onnx_path.name}: {errors[:800]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    if plan.calibrator:
        config.int8_calibrator = _entropy2_calibrator(trt, calibration_batches or [], calibration_cache)
        config.set_calibration_profile(profile)
    if opt_level is not None:
        config.builder_optimization_level = int(opt_level)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if dla_core is not None:
        if builder.num_DLA_cores <= dla_core:
            raise ToolkitError(f"engine.dla_core: {dla_core} requested but this device has {builder.num_DLA_cores} "
                               f"DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(dla_core)
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    cache_hit = bool(timing_cache and timing_cache.is_file())
    if timing_cache is not None:
        cache = config.create_timing_cache(timing_cache.read_bytes() if cache_hit else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise ToolkitError(f"TensorRT could not build an engine from {onnx_path.name} (see the stage log)")
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(bytes(serialized))
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(timing_cache) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    log(f"built {engine_path.name} ({plan.path_name}) in {seconds:.1f} s")
    return {"precision": plan.precision, "tensorrt_version": trt.__version__, "build_path": plan.path_name,
            "build_seconds": round(seconds, 2), "timing_cache_hit": cache_hit, "warnings": list(plan.warnings),
            "layer_precisions": precision_counts(info), "layers": len(info.get("Layers", [])),
            "size_bytes": engine_path.stat().st_size}
