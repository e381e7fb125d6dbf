"""Which quantizer makes which scheme: ModelOpt for `tensorrt`, ONNX Runtime's static quantizer for `cpu`.

ModelOpt (NVIDIA's ONNX PTQ) places Q/DQ the way TensorRT fuses layers; ONNX Runtime's quantizer puts Q/DQ
around every quantizable op, which suits its own x86 (VNNI) kernels and the asymmetric uint8 `cpu` scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import UserInputError
from toolkit.quantize.ptq import BatchReader, Calibrated, quantize


@dataclass(frozen=True)
class Backend:
    """A resolved quantizer: its name, the package that implements it and that package's version."""

    name: str
    package: str
    version: str | None
    why: str

    def record(self) -> dict[str, Any]:
        """What `extra["quantizer"]` says about the model's maker."""
        return {"backend": self.name, "package": self.package, "version": self.version, "why": self.why}


def choose_backend(requested: str, scheme: str, method: str, per_channel: bool) -> Backend:
    """Resolve `quantize.backend` (auto | modelopt | onnxruntime) for a scheme; UserInputError when they clash."""
    from importlib.metadata import version

    from toolkit.quantize.modelopt_ptq import check_method, modelopt_version

    if requested == "auto":
        name = "modelopt" if scheme == "tensorrt" else "onnxruntime"
        why = ("auto: NVIDIA ModelOpt places Q/DQ where TensorRT fuses them" if name == "modelopt" else
               "auto: ONNX Runtime's quantizer makes the asymmetric uint8 scheme its x86 kernels run")
    else:
        name, why = requested, "set in the recipe"
    if name == "onnxruntime":
        return Backend(name, "onnxruntime", version("onnxruntime"), why)
    if scheme != "tensorrt":
        raise UserInputError(f"quantize.backend: modelopt makes TensorRT's symmetric int8 only, not the '{scheme}' "
                             f"scheme; use scheme: tensorrt or backend: onnxruntime")
    check_method(method)
    if not per_channel:
        raise UserInputError("quantize.per_channel: ModelOpt always quantizes weights per output channel (what "
                             "TensorRT expects); drop per_channel: false or set backend: onnxruntime")
    return Backend(name, "nvidia-modelopt", modelopt_version(), why)


def cache_suffix(backend: Backend) -> str:
    """ORT caches tensor ranges (JSON, shared by both schemes); ModelOpt a TensorRT-format scale cache."""
    return ".json" if backend.name == "onnxruntime" else ".modelopt.cache"


def run_backend(backend: Backend, prep: Path, out: Path, *, scheme: str, method: str, percentile: float,
                per_channel: bool, reader: BatchReader | None, cache_file: Path, exclude: list[str]) -> Calibrated:
    """Quantize `prep` (fp32 ONNX) to the Q/DQ model `out` with the chosen backend, keeping `exclude` in float."""
    if backend.name == "modelopt":
        from toolkit.quantize.modelopt_ptq import quantize_modelopt

        return quantize_modelopt(prep, out, method=method, reader=reader, cache_file=cache_file, exclude=exclude)
    return quantize(prep, out, scheme=scheme, method=method, percentile=percentile, per_channel=per_channel,
                    reader=reader, cache_file=cache_file, exclude=exclude)
