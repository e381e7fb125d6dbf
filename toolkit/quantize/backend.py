"""Which quantizer makes which scheme: ModelOpt for `tensorrt`, NNCF for `openvino`, ONNX Runtime for `cpu`.

Each runtime's vendor places Q/DQ where its own kernels fuse them: ModelOpt (NVIDIA's ONNX PTQ) the way
TensorRT fuses layers, NNCF the way OpenVINO's CPU plugin does. ONNX Runtime's quantizer puts Q/DQ around
every quantizable op, which suits its own x86 (VNNI) kernels and the asymmetric uint8 `cpu` scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import UserInputError

if TYPE_CHECKING:  # ptq imports torch; choosing a backend (validating a recipe) must not
    from toolkit.quantize.ptq import BatchReader, Calibrated


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


_AUTO = {"tensorrt": ("modelopt", "auto: NVIDIA ModelOpt places Q/DQ where TensorRT fuses them"),
         "openvino": ("nncf", "auto: NNCF, OpenVINO's quantizer, places Q/DQ where OpenVINO's CPU plugin fuses them"),
         "cpu": ("onnxruntime", "auto: ONNX Runtime's quantizer makes the asymmetric uint8 scheme its x86 kernels run")}


def choose_backend(requested: str, scheme: str, method: str, per_channel: bool) -> Backend:
    """Resolve `quantize.backend` (auto | modelopt | nncf | onnxruntime) for a scheme; UserInputError when they
    clash."""
    from importlib.metadata import version

    from toolkit.quantize.modelopt_ptq import check_method, modelopt_version

    if requested == "auto":
        name, why = _AUTO[scheme]
    else:
        name, why = requested, "set in the recipe"
    if name == "nncf" and scheme != "openvino":
        raise UserInputError(f"quantize.backend: nncf makes only scheme: openvino, and this stage's scheme is "
                             f"'{scheme}'; set scheme: openvino, or backend: auto")
    if scheme == "openvino" and name != "nncf":
        raise UserInputError(f"quantize.backend: {name} does not make the openvino scheme, which is made by nncf "
                             f"only; set backend: auto (or nncf)")
    if name == "nncf":
        from toolkit.quantize.nncf_ptq import check_method as check_nncf_method
        from toolkit.quantize.nncf_ptq import nncf_version

        check_nncf_method(method)
        return Backend(name, "nncf", nncf_version(), why)
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


def choose_qat_backend(requested: str, scheme: str) -> Backend:
    """The fake-quant tool for QAT: ModelOpt's PyTorch quantization for `tensorrt` (its export has TensorRT's
    placement, like ModelOpt's PTQ), torch.ao for `cpu` (asymmetric uint8 activations, which ModelOpt's
    TensorRT-oriented int8 does not make) or when the recipe asks for backend: onnxruntime.
    UserInputError when the recipe's backend cannot make the scheme by QAT."""
    from importlib.metadata import version

    from toolkit.quantize.modelopt_ptq import modelopt_version

    if requested == "nncf":
        raise UserInputError("quantize.backend: NNCF makes post-training quantization only here; QAT uses "
                             "ModelOpt (tensorrt) or torch.ao (cpu); set backend: auto")
    if scheme == "tensorrt" and requested in ("auto", "modelopt"):
        why = "auto: " if requested == "auto" else "set in the recipe: "
        return Backend("modelopt", "nvidia-modelopt", modelopt_version(),
                       why + "QAT with ModelOpt's PyTorch fake-quant (modelopt.torch.quantization), exported with "
                             "TensorRT's Q/DQ placement")
    if requested == "modelopt":
        raise UserInputError(f"quantize.backend: ModelOpt's QAT makes TensorRT's symmetric int8 only, not the "
                             f"'{scheme}' scheme; use scheme: tensorrt, or backend: auto (torch.ao QAT)")
    why = "set in the recipe: " if requested == "onnxruntime" else "auto: "
    return Backend("torch.ao", "torch", version("torch"),
                   why + "QAT with torch.ao fake-quant (FX, BatchNorm folded), exported as Q/DQ")


def cache_suffix(backend: Backend) -> str | None:
    """ORT caches tensor ranges (JSON, shared by both schemes); ModelOpt a TensorRT-format scale cache; NNCF
    keeps none (None)."""
    return {"onnxruntime": ".json", "modelopt": ".modelopt.cache"}.get(backend.name)


def run_backend(backend: Backend, prep: Path, out: Path, *, scheme: str, method: str, percentile: float,
                per_channel: bool, reader: BatchReader | None, cache_file: Path | None,
                exclude: list[str]) -> Calibrated:
    """Quantize `prep` (fp32 ONNX) to the Q/DQ model `out` with the chosen backend, keeping `exclude` in float.

    `reader` may be None only for a backend with a cache (`cache_suffix`) whose `cache_file` exists."""
    if backend.name == "nncf":
        from toolkit.quantize.nncf_ptq import quantize_nncf

        if reader is None:
            raise ValueError("run_backend: NNCF keeps no calibration cache and needs the calibration batches")
        reader.rewind()
        return quantize_nncf(prep, out, method=method, percentile=percentile, per_channel=per_channel,
                             reader=reader, exclude=exclude)
    if backend.name == "modelopt":
        from toolkit.quantize.modelopt_ptq import quantize_modelopt

        return quantize_modelopt(prep, out, method=method, reader=reader, cache_file=cache_file, exclude=exclude)
    from toolkit.quantize.ptq import quantize

    return quantize(prep, out, scheme=scheme, method=method, percentile=percentile, per_channel=per_channel,
                    reader=reader, cache_file=cache_file, exclude=exclude)
