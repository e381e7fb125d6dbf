"""Does a latency target land on the INT8 file that ships? `prune.target.precision` int8 against fp32.

    python -m benchmarks.int8_target [--runtime openvino-cpu] [--speedup 1.5] [--smoke] [--out DIR]

ResNet-18 at 224x224 (random weights: latency only), batch 1. For each precision the target can be timed in
(fp32, the old behaviour; int8, the default when a quantize stage follows) the prune stage's own latency search
(`toolkit.prune.latency.latency_step`) picks the cut for `latency_speedup` on the runtime. Then the pruned and
the unpruned model are quantized as the quantize stage does (the runtime's scheme and backend: NNCF for
openvino, ONNX Runtime for cpu; min-max, 64 calibration images) and all fp32 and INT8 files are timed together
in interleaved rounds. The target lands when the shipped INT8 model is at least (1 - tolerance) x the target
faster than the INT8 model of the unpruned network.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, write_results

SCHEME = {"openvino-cpu": "openvino", "onnxruntime-cpu": "cpu"}


class _Log:
    def info(self, message: str) -> None:
        print(message, flush=True)

    def warning(self, message: str) -> None:
        print("WARNING: " + message, flush=True)


def _search(model: torch.nn.Module, precision: str, runtime: str, speedup: float, example: torch.Tensor,
            calibration: list[torch.Tensor]) -> dict[str, Any]:
    """The prune stage's latency search in `precision`; returns its step record, the pruned model in `pruned`."""
    from toolkit.prune.config import Prune
    from toolkit.prune.latency import latency_step
    from toolkit.prune.precision import PrecisionPlan, ProbeConverter, PruneFacts
    from toolkit.prune.target import plan_for

    cfg = Prune.model_validate({"target": {"latency_speedup": speedup, "runtime": runtime, "precision": precision}})
    facts = PruneFacts(precision=precision, precision_reason="benchmark", scheme=SCHEME[runtime]) \
        if precision == "int8" else PruneFacts(precision="fp32", precision_reason="benchmark")
    plan = PrecisionPlan(facts, ProbeConverter(facts, calibration) if precision == "int8" else None)
    pruned = copy.deepcopy(model)
    record = latency_step(pruned, cfg, plan_for(cfg, 10), example, 1, log=_Log(), baseline={}, precision=plan)
    return {**record, "pruned": pruned}


def _time_shipped(models: dict[str, torch.nn.Module], runtime_name: str, example: torch.Tensor,
                  calibration: list[torch.Tensor], rounds: int, smoke: bool) -> dict[str, float]:
    """p50 (ms) of each model in fp32 and as the quantize stage's INT8 file, all in the same rounds."""
    from toolkit.artifacts import ONNX, ModelArtifact
    from toolkit.config import MeasureSpec
    from toolkit.convert.onnx import export_onnx
    from toolkit.measure.rounds import session_sampler, time_rounds
    from toolkit.prune.precision import ProbeConverter, PruneFacts
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    facts = PruneFacts(precision="int8", precision_reason="the quantize stage", scheme=SCHEME[runtime_name])
    quantize = ProbeConverter(facts, calibration)
    spec = MeasureSpec(warmup_s=0.05, min_iters=6, min_time_s=0.1) if smoke else \
        MeasureSpec(warmup_s=1.0, min_iters=100, min_time_s=4.0, max_time_s=60.0)
    images = example.numpy()
    samplers = {}
    with tempfile.TemporaryDirectory(prefix="int8-target-") as tmp:
        for name, model in models.items():
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(model, path, example)
            for precision, artifact in (("fp32", ModelArtifact(ONNX, path)), ("int8", quantize(path))):
                samplers[f"{name}/{precision}"] = session_sampler(runtime.load(artifact), images)[0]
        timed = time_rounds(samplers, spec, rounds)
    return {key: record["p50_ms"] for key, record in timed.items()}


def main(argv: list[str] | None = None) -> int:
    """Measure and write benchmarks/results/int8_target[_smoke].{md,json}."""
    from toolkit.config import ModelSpec
    from toolkit.measure.profile import count_macs_params
    from toolkit.models import build_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="openvino-cpu", choices=sorted(SCHEME))
    parser.add_argument("--speedup", type=float, default=1.5)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--smoke", action="store_true", help="32x32 input, short timing: for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    size = 32 if args.smoke else 224
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="resnet18"), 10, size).eval()
    example = torch.randn(1, 3, size, size)
    calibration = [torch.randn(16, 3, size, size) for _ in range(2 if args.smoke else 4)]
    base_macs = count_macs_params(model, example)[0]
    searches = {p: _search(model, p, args.runtime, args.speedup, example, calibration[:2]) for p in ("fp32", "int8")}
    p50 = _time_shipped({"unpruned": model, **{f"cut-{p}": s["pruned"] for p, s in searches.items()}},
                        args.runtime, example, calibration, 3 if args.smoke else 9, args.smoke)
    rows = []
    for precision, found in searches.items():
        net = f"cut-{precision}"
        int8_speedup = p50["unpruned/int8"] / p50[f"{net}/int8"]
        rows.append({"target timed in": precision, "ratio": found["ratio"],
                     "MACs speedup": round(base_macs / count_macs_params(found["pruned"], example)[0], 3),
                     "search speedup": (found.get("chosen") or {}).get("speedup"),
                     "search interval": (found.get("chosen") or {}).get("speedup_ci"),
                     "search claims target_met": bool(found.get("target_met")),
                     "fp32 speedup": round(p50["unpruned/fp32"] / p50[f"{net}/fp32"], 3),
                     "shipped INT8 speedup": round(int8_speedup, 3),
                     "INT8 p50 ms": round(p50[f"{net}/int8"], 3),
                     "lands": int8_speedup >= args.speedup * (1 - args.tolerance)})
        print(rows[-1], flush=True)
    header = [f"ResNet-18 at {size}x{size}, random weights, batch 1, {args.runtime}; target latency_speedup "
              f"{args.speedup} (tolerance {args.tolerance:.0%}). Unpruned: fp32 {p50['unpruned/fp32']:.3f} ms, "
              f"INT8 {p50['unpruned/int8']:.3f} ms ({p50['unpruned/fp32'] / p50['unpruned/int8']:.2f}x from INT8)."]
    notes = ["`search speedup`: what the prune stage's search measured for its cut, in the precision it timed in; "
             "`search interval` its 95% interval; `search claims target_met`: whether the stage would record the "
             "target as met (not on an unstable measurement whose interval reaches below the goal).",
             "`shipped INT8 speedup`: the cut's INT8 file against the unpruned network's INT8 file, quantized "
             f"as the quantize stage does ({SCHEME[args.runtime]} scheme, min-max), all files timed in the same "
             "interleaved rounds after the searches.",
             "`lands`: the shipped INT8 speedup is within the tolerance of the target or above it."]
    write_results("int8_target" + ("_smoke" if args.smoke else ""), "A latency target timed in fp32 or in INT8, "
                  "measured on the INT8 file that ships", rows, list(rows[0]), notes, args.out, header=header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
