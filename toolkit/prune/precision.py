"""`prune.target.precision`: which precision a latency target is measured in, and the probes made in it.

INT8 kernels change which layers cost time, so a prune chosen on fp32 latency buys much less once the model is
quantized (issue 30: ResNet-18 at 224x224 on OpenVINO, a prune 2.9x faster in fp32 was 1.5x faster on top of
INT8). A latency target is therefore measured, by default, in the precision the recipe ships: every probe
(and the unpruned baseline it is timed against) is quantized with the recipe's own quantize scheme, by a fast
post-training quantization on a few calibration batches, and the probe timer caches the result per network
structure. Resolving the precision needs no torch (recipes validate without it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolkit.config import StageFacts

if TYPE_CHECKING:
    import torch

    from toolkit.artifacts import ModelArtifact
    from toolkit.data import DataBundle

Precision = Literal["fp32", "fp16", "int8"]
PROBE_CALIBRATION_IMAGES = 32  # scales do not change INT8 speed: a few batches give the scheme's Q/DQ graph


class PruneFacts(StageFacts):
    """What a latency-targeted prune stage takes from the recipe: the precision it times candidates in and why,
    and for int8 the quantize scheme, backend and per-channel setting of the quantize stage that follows."""

    precision: Precision
    precision_reason: str
    scheme: Literal["tensorrt", "cpu", "openvino"] | None = None
    backend: Literal["auto", "modelopt", "nncf", "onnxruntime"] = "auto"
    per_channel: bool = True


def resolve_precision(stage: Any, recipe: Any) -> PruneFacts:
    """The precision of `stage`'s (a Prune config's) latency target in `recipe` (a Recipe; None outside one):
    as set, else the precision the recipe ships (int8 when a quantize stage follows, as an int8 engine needs,
    fp16 when an fp16 engine follows, else fp32)."""
    from toolkit.quantize.config import Quantize, resolve_scheme

    stages = list(recipe.stages) if recipe is not None else []
    mine = next((i for i, s in enumerate(stages) if s is stage), len(stages))
    later = stages[mine + 1:]
    quantize = next((s for s in later if s.stage_type == "quantize"), None)
    asked = stage.target.precision
    if asked is not None:
        precision, why = asked, "set in the recipe"
    elif stage.allocation == "sensitivity":
        precision, why = "fp32", "allocation: sensitivity times its latency table in fp32"
    elif quantize is not None:
        where = quantize.name or f"stage {stages.index(quantize)}"
        precision, why = "int8", f"the recipe ships INT8: quantize stage '{where}' follows"
    elif any(s.stage_type == "engine" and getattr(s, "precision", None) == "fp16" for s in later):
        precision, why = "fp16", "the recipe ships fp16: an fp16 engine stage follows"
    else:
        precision, why = "fp32", "the recipe ships fp32: no quantize stage follows"
    if precision != "int8":
        return PruneFacts(precision=precision, precision_reason=why)
    source = quantize if isinstance(quantize, Quantize) else Quantize()
    scheme, scheme_why = resolve_scheme(source, recipe)
    return PruneFacts(precision="int8", precision_reason=f"{why}; scheme {scheme} ({scheme_why})", scheme=scheme,
                      backend=source.backend, per_channel=source.per_channel)


def precision_problem(runtime_name: str, precision: str) -> str | None:
    """Why `runtime_name` cannot time candidates in `precision` (None when it can)."""
    from toolkit.artifacts import ONNX, ONNX_INT8, TORCH
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    if precision == "int8" and ONNX_INT8 not in runtime.formats:
        return (f"{runtime_name} cannot run INT8 Q/DQ models, so an int8 latency target cannot be measured on "
                f"it; time on a runtime that runs them (onnxruntime-cpu, openvino-cpu) or set precision: fp32")
    own = runtime.options.get("precision", "fp32")
    fp16_capable = own == "fp16" if TORCH in runtime.formats else ONNX in runtime.formats and runtime.device == "cuda"
    if precision == "fp16" and not fp16_capable:
        return (f"{runtime_name} does not run fp16 models (it runs {own} on the {runtime.device.upper()}); time an "
                f"fp16 target on torch-cuda-fp16 or an ONNX Runtime GPU provider, or set precision: fp32")
    return None


class ProbeConverter:
    """Turns a probe's fp32 ONNX export into the model timed for the target precision.

    int8: the recipe's quantize scheme by its backend (ONNX Runtime, NNCF or ModelOpt), min-max calibrated on
    `calibration` (a list of (N, C, H, W) batches); fp16: onnxconverter-common's float16 conversion with fp32
    inputs and outputs. Raises ToolkitError when the quantizer fails on a probe.
    """

    def __init__(self, facts: PruneFacts, calibration: list[torch.Tensor]):
        self.facts, self.calibration = facts, calibration
        self.seconds = 0.0

    def __call__(self, fp32: Path) -> ModelArtifact:
        import time

        from toolkit.artifacts import ONNX, ModelArtifact

        start = time.perf_counter()
        try:
            if self.facts.precision == "int8":
                return self._int8(fp32)
            if self.facts.precision == "fp16":
                return self._fp16(fp32)
            return ModelArtifact(ONNX, fp32)
        finally:
            self.seconds += time.perf_counter() - start

    def _int8(self, fp32: Path) -> ModelArtifact:
        from toolkit.artifacts import ONNX_INT8, ModelArtifact
        from toolkit.errors import ToolkitError
        from toolkit.quantize.backend import cache_suffix, choose_backend, run_backend
        from toolkit.quantize.ptq import BatchReader, preprocess

        facts = self.facts
        prep, out = fp32.with_suffix(".prep.onnx"), fp32.with_suffix(".int8.onnx")
        backend = choose_backend(facts.backend, facts.scheme or "cpu", "minmax", facts.per_channel)
        suffix = cache_suffix(backend)  # a private cache beside the probe: each probe is calibrated once
        cache = None if suffix is None else fp32.with_suffix(".calibration" + suffix)
        try:
            preprocess(fp32, prep)
            run_backend(backend, prep, out, scheme=facts.scheme or "cpu", method="minmax", percentile=99.99,
                        per_channel=facts.per_channel, reader=BatchReader(self.calibration, "input"),
                        cache_file=cache, exclude=[])
        except Exception as exc:  # the quantizer's own error, on a probe the user never sees: name both
            raise ToolkitError(f"prune.target.precision int8: {backend.name} could not quantize the latency probe "
                               f"{fp32.name}: {type(exc).__name__}: {exc}") from exc
        finally:
            prep.unlink(missing_ok=True)
        return ModelArtifact(ONNX_INT8, out)

    def _fp16(self, fp32: Path) -> ModelArtifact:
        import onnx
        from onnxconverter_common import float16

        from toolkit.artifacts import ONNX, ModelArtifact

        out = fp32.with_suffix(".fp16.onnx")
        onnx.save(float16.convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(out))
        return ModelArtifact(ONNX, out)


@dataclass
class PrecisionPlan:
    """The precision a latency search times candidates in (`facts`) and the converter that makes them (None:
    the runtime times the exported fp32 model or the torch model itself)."""

    facts: PruneFacts = field(default_factory=lambda: PruneFacts(precision="fp32",
                                                                 precision_reason="outside a recipe: fp32"))
    converter: ProbeConverter | None = None

    def record(self) -> dict[str, Any]:
        """What the stage's metrics say about the precision it measured in."""
        out: dict[str, Any] = {"precision": self.facts.precision, "precision_reason": self.facts.precision_reason}
        if self.facts.scheme is not None:
            out["precision_scheme"] = self.facts.scheme
        if self.converter is not None:
            out["probe_convert_seconds"] = round(self.converter.seconds, 2)
        return out


def precision_plan(facts: PruneFacts, runtime_name: str, data: DataBundle, seed: int) -> PrecisionPlan:
    """The plan for a stage's resolved facts; raises ToolkitError when the runtime cannot run the precision."""
    from toolkit.artifacts import TORCH
    from toolkit.errors import ToolkitError
    from toolkit.runtimes import get_runtime

    problem = precision_problem(runtime_name, facts.precision)
    if problem:  # validation refuses this first; kept for configs used outside a recipe
        raise ToolkitError(f"prune.target.precision {facts.precision}: {problem}")
    if facts.precision == "fp32" or TORCH in get_runtime(runtime_name).formats:
        return PrecisionPlan(facts)
    batches = data.calibration_batches(PROBE_CALIBRATION_IMAGES, 16, seed) if facts.precision == "int8" else []
    return PrecisionPlan(facts, ProbeConverter(facts, batches))
