"""OpenVINO-scheme PTQ with NNCF (`nncf.quantize` on the ONNX model), OpenVINO's own post-training quantizer.

NNCF places Q/DQ the way OpenVINO's CPU plugin fuses INT8 layers (symmetric weights per output channel,
quantizers on the inputs of Conv/MatMul/Add, the `performance` preset) and corrects the bias shift that
quantization leaves (fast bias correction). ONNX Runtime's generic placement, which the `cpu` scheme uses,
suits ONNX Runtime's own kernels; OpenVINO runs the same network measurably slower from it
(benchmarks/results/frontier_quick_resnet56.md). Statistics are collected through ONNX Runtime on the CPU.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import UserInputError
from toolkit.fsutil import atomic_path

if TYPE_CHECKING:  # ptq imports torch; checking a method or the version (validating a recipe) must not
    from toolkit.quantize.ptq import BatchReader, Calibrated

# The toolkit's calibration.method -> NNCF's activation range estimator (weights always use min/max).
# NNCF has no KL-divergence (entropy) calibration; its histogram estimator minimises a different error.
METHODS = ("minmax", "percentile")


def nncf_version() -> str | None:
    """The installed nncf version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nncf")
    except PackageNotFoundError:
        return None


def check_method(method: str) -> None:
    """Raise UserInputError for a calibration method NNCF does not offer."""
    if method not in METHODS:
        raise UserInputError(f"quantize.calibration.method: '{method}' is not offered by NNCF (it has "
                             f"{', '.join(METHODS)}: NNCF has no entropy calibration); choose one of them")


def _range_estimator(method: str, percentile: float):
    """NNCF's activation range estimator for `method`: global min/max, or the mean of per-batch quantiles."""
    from nncf.quantization.range_estimator import (
        RangeEstimatorParameters,
        RangeEstimatorParametersSet,
        StatisticsCollectorParameters,
    )

    if method == "minmax":
        return RangeEstimatorParametersSet.MINMAX
    outlier = (100.0 - percentile) / 100.0
    quantile = RangeEstimatorParametersSet.MEAN_QUANTILE
    return RangeEstimatorParameters(
        min=StatisticsCollectorParameters(quantile.min.statistics_type, quantile.min.aggregator_type,
                                          quantile_outlier_prob=outlier),
        max=StatisticsCollectorParameters(quantile.max.statistics_type, quantile.max.aggregator_type,
                                          quantile_outlier_prob=outlier))


@contextlib.contextmanager
def _nncf_quiet():
    """NNCF logs its progress at INFO through its own logger and draws rich progress bars on stdout."""
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def quantize_nncf(prep: Path, out: Path, *, method: str, percentile: float, per_channel: bool,
                  reader: BatchReader, exclude: list[str] | None = None) -> Calibrated:
    """Write an OpenVINO-placed Q/DQ int8 model of `prep` (fp32 ONNX) to `out` with NNCF.

    Every batch of `reader` ((N, C, H, W) float32 images) is a calibration sample; statistics are not cached
    (NNCF has no range cache for ONNX models), so `Calibrated.cache_hit` is always False. `exclude` names ONNX
    nodes kept in float (NNCF's ignored scope). Raises UserInputError for an unsupported method, a node name
    the model lacks, or a missing NNCF install.
    """
    from toolkit.quantize.ptq import Calibrated

    check_method(method)
    try:
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    except ImportError as exc:
        raise UserInputError(f"quantize: the openvino scheme quantizes with NNCF, which cannot be imported "
                             f"({exc}); pip install -e . installs it") from None
    import onnx

    model = onnx.load(str(prep))
    names = {node.name for node in model.graph.node}
    missing = sorted(set(exclude or []) - names)
    if missing:
        raise UserInputError(f"quantize.exclude: no node named {', '.join(missing)} in {prep.name}")
    feeds = [{reader.input_name: batch.numpy()} for batch in reader.batches]
    advanced = AdvancedQuantizationParameters(
        activations_range_estimator_params=_range_estimator(method, percentile),
        weights_quantization_params=None if per_channel else QuantizationParameters(per_channel=False))
    with _nncf_quiet():
        quantized = nncf.quantize(model, nncf.Dataset(feeds), preset=nncf.QuantizationPreset.PERFORMANCE,
                                  target_device=nncf.TargetDevice.CPU, subset_size=len(feeds),
                                  ignored_scope=nncf.IgnoredScope(names=list(exclude or [])),
                                  advanced_parameters=advanced)
    reader.reads += len(feeds)
    with atomic_path(out) as tmp:
        onnx.save(quantized, str(tmp))
    return Calibrated(None, False, len(feeds))
