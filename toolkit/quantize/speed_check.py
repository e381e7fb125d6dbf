"""Is the INT8 model actually faster? Time it against its fp32 source on each CPU runtime and batch size.

INT8 Q/DQ models are not always faster on CPU runtimes: where the kernels lack int8 support for an
operator (DenseNet's concatenations, grouped convolutions) the runtime adds quantize/dequantize
around float kernels and the INT8 model can be 1.5-3x slower than fp32. Both models are timed here,
one after the other under the same conditions, with the recipe's timing settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.artifacts import ModelArtifact
from toolkit.measure.latency import time_calls
from toolkit.registry import ONNX, ONNX_INT8
from toolkit.runtimes import get_runtime, runtime_names
from toolkit.specs import MeasureSpec

SLOWER_BY = 1.05  # INT8 p50 above fp32 p50 by more than this factor (5%: above timing noise) is flagged


def cpu_runtimes(spec: MeasureSpec) -> list[str]:
    """The recipe's CPU runtimes that run both fp32 and INT8 ONNX models (TensorRT is checked by `engine`)."""
    names = []
    for name in spec.runtimes:
        if name not in runtime_names():
            continue
        runtime = get_runtime(name)
        if runtime.device == "cpu" and {ONNX, ONNX_INT8} <= set(runtime.formats) and runtime.unavailable() is None:
            names.append(name)
    return names


def compare_int8_fp32(fp32: Path, int8: Path, data, spec: MeasureSpec, log) -> dict[str, Any]:
    """Per CPU runtime and batch size: fp32 and INT8 p50 latency (ms), the speedup and a slower flag.

    Returns {"records": [...], "slower_on": ["runtime@bs", ...], "timing": ...}; a runtime that fails to
    load either model is recorded with its reason and not flagged.
    """
    records, slower = [], []
    for name in cpu_runtimes(spec):
        runtime = get_runtime(name)
        try:
            sessions = {k: runtime.load(ModelArtifact(fmt, path), spec.threads)
                        for k, fmt, path in (("fp32", ONNX, fp32), ("int8", ONNX_INT8, int8))}
        except Exception as exc:  # noqa: BLE001 - one runtime failing must not stop the stage
            records.append({"runtime": name, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        for bs in spec.batch_sizes:
            images = data.example_input(bs).numpy()
            p50 = {k: time_calls(lambda s=s: s.predict(images), spec, s.sync)["p50_ms"] for k, s in sessions.items()}
            flagged = p50["int8"] > p50["fp32"] * SLOWER_BY
            records.append({"runtime": name, "batch_size": bs, "fp32_p50_ms": p50["fp32"], "int8_p50_ms": p50["int8"],
                            "int8_speedup": round(p50["fp32"] / p50["int8"], 3) if p50["int8"] else None,
                            "int8_slower": flagged})
            if flagged:
                slower.append(f"{name}@{bs}")
                log.warning(f"INT8 is slower than fp32 on {name} at batch {bs}: {p50['int8']:.3f} ms vs "
                            f"{p50['fp32']:.3f} ms p50; this runtime lacks fast int8 kernels for some of the "
                            f"model's operators: use the fp32 model there, or TensorRT (engine stage)")
    return {"records": records, "slower_on": slower, "slower_by": SLOWER_BY,
            "note": "timed one after the other with the recipe's measure settings"}
