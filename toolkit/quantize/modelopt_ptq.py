"""TensorRT-scheme PTQ with NVIDIA ModelOpt's ONNX quantizer (`modelopt.onnx.quantization.quantize`).

ModelOpt places Q/DQ where TensorRT fuses them (no Q/DQ between a Conv and its activation, one quantized
input per residual Add, per-channel weights on the output-channel axis, zero points 0), which ONNX Runtime's
generic quantizer does not. It calibrates through ONNX Runtime (CPU execution provider here).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import UserInputError
from toolkit.fsutil import atomic_path

if TYPE_CHECKING:  # ptq imports torch; checking a method or the version (validating a recipe) must not
    from toolkit.quantize.ptq import BatchReader, Calibrated

# The toolkit's calibration.method -> ModelOpt's int8 calibration_method (ModelOpt 0.47 offers max and entropy;
# with symmetric activations ORT's MinMax, which ModelOpt runs for "max", is max calibration).
METHODS = {"minmax": "max", "entropy": "entropy"}
CACHE_HEADER = "TRT-8501-EntropyCalibration2"  # TensorRT's calibration-cache format, which ModelOpt reads


# What modelopt.onnx.quantization.ort_patching.patch_ort_modules replaces on ONNX Runtime's classes, for good.
_ORT_PATCHED = {
    "calibrate": {"MinMaxCalibrater": ("augment_graph", "collect_data", "compute_data", "merge_range"),
                  "HistogramCalibrater": ("augment_graph", "collect_data"),
                  "HistogramCollector": ("collect", "collect_value", "collect_absolute_value"),
                  "CalibraterBase": ("__init__", "create_inference_session", "select_tensors_to_calibrate")},
    "qdq_quantizer": {"QDQQuantizer": ("check_opset_version",)},
    "base_quantizer": {"BaseQuantizer": ("adjust_tensor_ranges",)},
}


@contextlib.contextmanager
def ort_patches_undone() -> Iterator[None]:
    """Undo, on exit, ModelOpt's monkey-patching of ONNX Runtime's quantizer classes.

    ModelOpt patches ORT's calibrators process-wide when it quantizes; left in place, a later `cpu`-scheme
    quantize_static in the same process runs ModelOpt's calibrators and fails or differs.
    """
    import importlib

    saved = []
    for module_name, classes in _ORT_PATCHED.items():
        module = importlib.import_module(f"onnxruntime.quantization.{module_name}")
        saved.append((module, "create_calibrator", vars(module).get("create_calibrator")))
        for class_name, names in classes.items():
            cls = getattr(module, class_name)
            saved += [(cls, name, vars(cls).get(name)) for name in names]
    try:
        yield
    finally:
        for owner, name, original in saved:
            if original is not None:
                setattr(owner, name, original)
            elif name in vars(owner):
                delattr(owner, name)


def modelopt_version() -> str | None:
    """The installed nvidia-modelopt version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nvidia-modelopt")
    except PackageNotFoundError:
        return None


def calibration_providers() -> list[str]:
    """ModelOpt's calibration_eps in priority order: TensorRT and CUDA where ONNX Runtime has them, then CPU."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    wanted = [("TensorrtExecutionProvider", "trt"), ("CUDAExecutionProvider", "cuda:0")]
    return [name for provider, name in wanted if provider in available] + ["cpu"]


def check_method(method: str) -> None:
    """Raise UserInputError for a calibration method ModelOpt does not offer."""
    if method not in METHODS:
        raise UserInputError(f"quantize.calibration.method: '{method}' is not offered by ModelOpt's INT8 PTQ "
                             f"(it has {', '.join(METHODS)}); choose one of them, or backend: onnxruntime")


def write_scale_cache(qdq_model: Path, cache_file: Path) -> int:
    """Write the activation scales of a Q/DQ model as a TensorRT calibration cache; return how many.

    Format (TensorRT's, read by ModelOpt's calibration_cache_path): a header line, then `tensor: <scale as
    big-endian float32 hex>` per quantized activation. Weight scales are not cached: they come from the weights.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(qdq_model))
    inits = {i.name: i for i in model.graph.initializer}
    lines = [CACHE_HEADER]
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in inits or not node.input[1].endswith("_scale"):
            continue
        scale = numpy_helper.to_array(inits[node.input[1]]) if node.input[1] in inits else None
        if scale is None or scale.size != 1:
            continue
        lines.append(f"{node.input[1].removesuffix('_scale')}: {struct.pack('!f', float(scale)).hex()}")
    with atomic_path(cache_file) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def quantize_modelopt(prep: Path, out: Path, *, method: str, reader: BatchReader | None, cache_file: Path,
                      exclude: list[str] | None = None) -> Calibrated:
    """Write a TensorRT-placed Q/DQ int8 model of `prep` (fp32 ONNX) to `out` with ModelOpt.

    Calibration runs on ONNX Runtime's CPU provider over `reader`'s batches and its activation scales are
    cached in `cache_file`. On a cache hit ModelOpt still needs one batch to run (it calibrates, then replaces
    every cached scale), so `batches_read` is 1; a `reader` of None is only allowed on a hit. `exclude` names
    nodes kept in float (ModelOpt's nodes_to_exclude, regular expressions; names are escaped here).
    Raises UserInputError for an unsupported method or a missing ModelOpt install.
    """
    import re

    from toolkit.quantize.ptq import BatchReader, Calibrated, _quiet

    check_method(method)
    try:
        from modelopt.onnx.quantization import quantize as modelopt_quantize
    except ImportError as exc:
        raise UserInputError(f"quantize: the tensorrt scheme quantizes with NVIDIA ModelOpt, which cannot be "
                             f"imported ({exc}); pip install -e . installs it, or set backend: onnxruntime") from None
    hit = cache_file.is_file()
    if reader is None and not hit:
        raise ValueError("quantize_modelopt: calibration batches are needed without a cache")
    if hit:
        first = reader.batches[:1] if reader is not None else None
        if first is None:
            raise ValueError("quantize_modelopt: ModelOpt needs one calibration batch even with a cache")
        reader = BatchReader(first, reader.input_name)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    # ModelOpt writes intermediate files next to its input: give it a private folder.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".modelopt-") as work:
        source = Path(work) / "model.onnx"
        shutil.copyfile(prep, source)
        result = Path(work) / "model.int8.onnx"
        with _quiet(), contextlib.redirect_stderr(io.StringIO()), ort_patches_undone():  # stderr: tqdm bars
            modelopt_quantize(str(source), quantize_mode="int8", calibration_data_reader=reader,
                              calibration_method="max" if hit else METHODS[method],
                              calibration_cache_path=str(cache_file) if hit else None,
                              calibration_eps=calibration_providers(),
                              nodes_to_exclude=[f"^{re.escape(n)}$" for n in exclude or []],
                              high_precision_dtype="fp32",  # float layers stay fp32: the file runs on ORT's CPU EP
                              dq_only=True,  # weights stored as int8 with DequantizeLinear only: ~4x smaller file
                              output_path=str(result), log_level="ERROR")
        if not result.is_file():
            raise RuntimeError(f"ModelOpt wrote no model for {prep}")
        if not hit:
            write_scale_cache(result, cache_file)
        with atomic_path(out) as tmp:
            shutil.copyfile(result, tmp)
    return Calibrated(cache_file, hit, reader.reads)
