"""Is the INT8 model actually faster? Time it against its fp32 source on each CPU runtime and batch size.

INT8 Q/DQ models are not always faster on CPU runtimes: where the kernels lack int8 support for an
operator (DenseNet's concatenations, grouped convolutions) the runtime adds quantize/dequantize
around float kernels and the INT8 model can be 1.5-3x slower than fp32. Both models are timed here in
interleaved rounds (fp32 INT8 fp32 INT8 ...) with the recipe's timing settings, each with a bootstrap
interval over its round medians (toolkit.measure.rounds), as `compress bench` times stages: INT8 is called
slower only when its whole interval lies above fp32's, so a busy machine does not flag it on noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.artifacts import ONNX, ONNX_INT8, ModelArtifact
from toolkit.config import MeasureSpec
from toolkit.measure.interrupts import reraise_if_interrupted
from toolkit.measure.rounds import ROUNDS, Sampler, session_sampler, time_rounds
from toolkit.runtimes import get_runtime, runtime_names

INTERVAL_KEYS = ("p50_ms", "ci_low_ms", "ci_high_ms", "rounds", "unstable")


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


def _samplers(sessions: dict[str, Any], images) -> dict[str, Sampler]:
    """perf_counter samplers of each loaded session on `images`, taken where the model runs (its own function:
    tests fake the timer here)."""
    return {key: session_sampler(session, images)[0] for key, session in sessions.items()}


def time_pair(samplers: dict[str, Sampler], spec: MeasureSpec, rounds: int = ROUNDS) -> dict[str, Any]:
    """Time the "fp32" and "int8" samplers interleaved in `rounds`; p50s, 95% intervals (ms) and the verdict.

    `int8_slower` is True only when INT8's interval lies wholly above fp32's (`decided: "int8 slower"`);
    `decided` is "int8 faster" when it lies wholly below and "within noise" when the intervals overlap.
    """
    timed = time_rounds(samplers, spec, rounds)
    fp32, int8 = ({k: timed[key][k] for k in INTERVAL_KEYS} for key in ("fp32", "int8"))
    slower = int8["ci_low_ms"] > fp32["ci_high_ms"]
    faster = int8["ci_high_ms"] < fp32["ci_low_ms"]
    return {"fp32_p50_ms": fp32["p50_ms"], "int8_p50_ms": int8["p50_ms"],
            "fp32_interval_ms": [fp32["ci_low_ms"], fp32["ci_high_ms"]],
            "int8_interval_ms": [int8["ci_low_ms"], int8["ci_high_ms"]], "rounds": fp32["rounds"],
            "unstable": bool(fp32["unstable"] or int8["unstable"]),
            "int8_speedup": round(fp32["p50_ms"] / int8["p50_ms"], 3) if int8["p50_ms"] else None,
            "int8_slower": bool(slower),
            "decided": "int8 slower" if slower else "int8 faster" if faster else "within noise"}


def float_in_int8(int8: Path) -> dict[str, Any]:
    """What the INT8 graph itself shows still running in float: BatchNormalization nodes (a norm no fold
    reached: each is a float op between dequantize and quantize) and Conv/Gemm/MatMul layers whose weight is not
    dequantized. Returns {"batchnorm": n, "float_layers": n, "causes": [the measured slow-downs, as lines]}."""
    import onnx

    from toolkit.quantize.float_layers import float_compute_nodes

    graph = onnx.load(str(int8), load_external_data=False).graph
    norms = sum(n.op_type == "BatchNormalization" for n in graph.node)
    layers = len(float_compute_nodes(int8))
    # float layers are recorded, not blamed: quantizers keep a first conv or a classifier in float by design
    causes = [f"{norms} float BatchNormalization nodes left in the INT8 graph"] if norms else []
    return {"batchnorm": norms, "float_layers": layers, "causes": causes}


def slower_reason(found: dict[str, Any]) -> str:
    """Why INT8 was slower, for the warning: the graph's measured float leftovers, else the kernels' lack."""
    if found["causes"]:
        return "; ".join(found["causes"]) + " (each runs in float between dequantize and quantize)"
    return "this runtime lacks fast int8 kernels for some of the model's operators"


def _failed(runtime: str, batch_size: int | None, exc: Exception, log) -> dict[str, Any]:
    """The record of a runtime that could not load or time the pair, with the reason; also a log warning."""
    from toolkit.runtimes.isolated import RuntimeCrashed

    reason = str(exc) if isinstance(exc, RuntimeCrashed) else f"{type(exc).__name__}: {exc}"
    log.warning(f"INT8 vs fp32 on {runtime}: not compared: {reason}"[:500])
    return {"runtime": runtime, **({} if batch_size is None else {"batch_size": batch_size}), "status": "failed",
            "reason": reason[:300]}


def compare_int8_fp32(fp32: Path, int8: Path, data, spec: MeasureSpec, log) -> dict[str, Any]:
    """Per CPU runtime and batch size: fp32 and INT8 p50 latency (ms) with 95% intervals, speedup and verdict.

    Returns {"records": [...], "slower_on": ["runtime@bs", ...], "float_in_int8": ..., "note": ...}; a record's
    fields are those of `time_pair`. A runtime that fails to load or time either model (a native crash in its
    worker process included) is recorded as `status: failed` with its reason and not flagged. A slower INT8 is
    explained by what its graph still runs in float (`float_in_int8`) when it shows any.
    """
    records, slower = [], []
    found = float_in_int8(int8)
    for name in cpu_runtimes(spec):
        runtime = get_runtime(name)
        try:
            sessions = {k: runtime.load(ModelArtifact(fmt, path), spec.threads)
                        for k, fmt, path in (("fp32", ONNX, fp32), ("int8", ONNX_INT8, int8))}
        except Exception as exc:  # noqa: BLE001 - one runtime failing must not stop the stage
            reraise_if_interrupted(exc)
            records.append(_failed(name, None, exc, log))
            continue
        for bs in spec.batch_sizes:
            try:  # a runtime that crashes compiling or timing a model (its worker process died) fails this pair
                pair = time_pair(_samplers(sessions, data.example_input(bs).numpy()), spec)
            except Exception as exc:  # noqa: BLE001 - one runtime failing must not stop the stage
                reraise_if_interrupted(exc)
                records.append(_failed(name, bs, exc, log))
                continue
            records.append({"runtime": name, "batch_size": bs, **pair})
            if pair["int8_slower"]:
                slower.append(f"{name}@{bs}")
                log.warning(f"INT8 is slower than fp32 on {name} at batch {bs}: {pair['int8_p50_ms']:.3f} ms "
                            f"(95% interval {pair['int8_interval_ms']}) vs {pair['fp32_p50_ms']:.3f} ms "
                            f"({pair['fp32_interval_ms']}) p50; {slower_reason(found)}: use the fp32 model "
                            f"there, or TensorRT (engine stage)")
    return {"records": records, "slower_on": slower, "float_in_int8": found,
            "note": "fp32 and INT8 timed in interleaved rounds with the recipe's measure settings; INT8 is "
                    "flagged slower only when its 95% interval lies above fp32's"}
