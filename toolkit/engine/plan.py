"""Decisions that need no GPU: TensorRT major version -> build path, precision -> ONNX and flags, profile
shapes, and the trtexec command line. TensorRT 11 removed the precision builder flags and the INT8
calibrators: there every network is strongly typed, fp16 comes from an fp16 ONNX model, int8 from Q/DQ."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import UserInputError


def trt_major(version: str) -> int:
    """'10.13.0.35' -> 10."""
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        raise UserInputError(f"cannot read a TensorRT version from '{version}'") from None


@dataclass(frozen=True)
class BuildPlan:
    """How one engine is built on one TensorRT major version."""

    precision: str
    major: int
    onnx_source: str  # "int8" (the Q/DQ model), "fp32" (as exported) or "fp16" (converted before building)
    strongly_typed: bool
    builder_flags: tuple[str, ...] = ()
    calibrator: str | None = None  # "entropy2" on the deprecated implicit path
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def path_name(self) -> str:
        """A short description for metrics and the report."""
        kind = "strongly typed" if self.strongly_typed else "weakly typed"
        flags = f" + {'/'.join(self.builder_flags)}" if self.builder_flags else ""
        return f"TRT {self.major}: {kind} from the {self.onnx_source} ONNX{flags}" + (
            f", {self.calibrator} calibrator" if self.calibrator else "")


def build_plan(precision: str, major: int, calibration: str = "explicit", fp16_by: str = "auto") -> BuildPlan:
    """Choose the build path for a precision on a TensorRT major version.

    - int8, explicit: the Q/DQ model, strongly typed (the only int8 path on TensorRT >= 11).
    - int8, implicit: TensorRT < 11 only; weakly typed fp32 ONNX + INT8 flag + entropy2 calibrator (deprecated).
    - fp16: TensorRT >= 11 (or fp16_by=onnx): an fp16 ONNX model, strongly typed; TensorRT 10 (fp16_by=auto|flag):
      the fp32 ONNX with the FP16 builder flag.
    - fp32: the fp32 ONNX, strongly typed.
    """
    if major < 8:
        raise UserInputError(f"TensorRT {major}.x is not supported (8.6 or newer is needed)")
    if precision == "int8":
        if calibration == "implicit":
            if major >= 11:
                raise UserInputError("engine.calibration: implicit: TensorRT 11 removed INT8 calibrators; "
                                     "use the Q/DQ model from the quantize stage (calibration: explicit)")
            return BuildPlan("int8", major, "fp32", False, ("FP16", "INT8"), "entropy2",
                             ("implicit INT8 calibration is deprecated in TensorRT 10 and removed in 11; "
                              "prefer explicit quantization (Q/DQ)",))
        return BuildPlan("int8", major, "int8", True)
    if precision == "fp16":
        if major >= 11 or fp16_by == "onnx":
            if fp16_by == "flag":
                raise UserInputError("engine.fp16_by: flag: TensorRT 11 removed BuilderFlag.FP16; use onnx")
            return BuildPlan("fp16", major, "fp16", True)
        return BuildPlan("fp16", major, "fp32", False, ("FP16",))
    if precision == "fp32":
        return BuildPlan("fp32", major, "fp32", True)
    raise UserInputError(f"unknown engine precision '{precision}'")


def profile_shapes(batch_sizes: list[int], chw: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
    """One optimisation profile covering every measured batch size: min, opt (the largest), max."""
    sizes = sorted(set(batch_sizes)) or [1]
    return {"min": (sizes[0], *chw), "opt": (sizes[-1], *chw), "max": (sizes[-1], *chw)}


def _shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


def trtexec_command(plan: BuildPlan, onnx: Path, engine: Path, shapes: dict[str, tuple[int, ...]], *,
                    input_name: str = "input", workspace_mib: int = 1024, timing_cache: Path | None = None,
                    dla_core: int | None = None, opt_level: int | None = None,
                    export_dir: Path | None = None) -> list[str]:
    """The trtexec command line for this plan (flags differ between TensorRT 10 and 11)."""
    cmd = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}",
           f"--minShapes={input_name}:{_shape(shapes['min'])}", f"--optShapes={input_name}:{_shape(shapes['opt'])}",
           f"--maxShapes={input_name}:{_shape(shapes['max'])}", f"--memPoolSize=workspace:{workspace_mib}M"]
    if plan.strongly_typed and plan.major < 11:
        cmd.append("--stronglyTyped")  # 11.x: always strongly typed, the flag is gone
    cmd += [f"--{flag.lower()}" for flag in plan.builder_flags]
    if timing_cache is not None:
        cmd.append(f"--timingCacheFile={timing_cache}")
    if dla_core is not None:
        cmd += [f"--useDLACore={dla_core}", "--allowGPUFallback"]
    if opt_level is not None:
        cmd.append(f"--builderOptimizationLevel={opt_level}")
    if export_dir is not None:
        cmd += ["--profilingVerbosity=detailed", f"--exportTimes={export_dir / 'times.json'}",
                f"--exportLayerInfo={export_dir / 'layers.json'}", f"--exportProfile={export_dir / 'profile.json'}"]
    return cmd


def precision_counts(layer_info: dict) -> dict[str, int]:
    """Count layers by the data type of their first input, from the engine inspector's JSON."""
    counts: dict[str, int] = {}
    for layer in layer_info.get("Layers", []):
        if not isinstance(layer, dict):
            continue
        inputs = layer.get("Inputs") or []
        fmt = str(inputs[0].get("Format/Datatype", "")) if inputs and isinstance(inputs[0], dict) else ""
        kind = next((t for t in ("Int8", "FP8", "Half", "BFloat16", "Float", "Int32") if t.lower() in fmt.lower()),
                    "unknown")
        name = {"Half": "fp16", "Float": "fp32", "Int8": "int8", "BFloat16": "bf16"}.get(kind, kind.lower())
        counts[name] = counts.get(name, 0) + 1
    return counts
