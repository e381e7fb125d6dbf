"""`round_to: auto`: the channel multiple a prune keeps, chosen by timing a layer of the model on the target
runtime and precision at neighbouring channel counts.

Kernels process channels in blocks (oneDNN's SIMD blocks on CPUs, 8 fp32 lanes with AVX2 and 16 with
AVX-512, 4-channel VNNI groups for INT8; tensor-core tiles on NVIDIA GPUs), so a count just past a block
boundary pays for a whole block. The probe times one convolution of the model (its largest by MACs, at its
kernel, stride and input size) with n input and output channels, for every n in a window around the count a
typical cut leaves, all in the same interleaved rounds. For each candidate multiple m it scores the channels
per millisecond of the counts that are multiples of m against all counts, and keeps the smallest multiple
that keeps most of the best score's gain (a coarser multiple only makes targets harder to land), never more
than a quarter of the model's widest layer (a multiple as wide as a layer would keep it whole). The result
is cached per machine, runtime, precision and layer shape (and network, when the whole-network check of
round_to_network.py ran: a lone layer misses the reorders between layers, so where the layer's pick and the
table's differ, the network cut at each decides). Where nothing can be timed (TensorRT without a
GPU), a documented table gives the multiple: NVIDIA's Tensor Core performance guide asks for multiples of 8
channels in FP16, 16 in INT8 and 4 in TF32; on CPUs, the SIMD width in fp32 lanes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.config import MeasureSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from toolkit.prune.config import Prune
    from toolkit.prune.precision import PruneFacts

CANDIDATES = (1, 2, 4, 8, 16, 32)
WINDOW = 24  # counts from centre - WINDOW to centre + WINDOW - 1: at least one multiple of 32 inside
NOISE = 0.03  # scores within 3% of the best are ties
PROBE_TIMING = MeasureSpec(warmup_s=0.02, min_iters=15, min_time_s=0.03, max_time_s=1.0)
PROBE_ROUNDS = 3
GPU_TABLE = {"int8": 16, "fp16": 8, "fp32": 4}  # NVIDIA Tensor Core performance guide (TF32 for fp32)


def fallback_multiple(device: str, precision: str) -> tuple[int, str]:
    """The table's multiple where nothing can be timed, and where it comes from."""
    if device == "cuda":
        return GPU_TABLE[precision], (f"NVIDIA's Tensor Core performance guide: multiples of {GPU_TABLE[precision]} "
                                      f"channels for {precision} ({'TF32' if precision == 'fp32' else precision})")
    from toolkit.measure.device import describe_device

    isa = describe_device().get("isa") or []
    if "avx512f" in isa:
        return 16, "AVX-512: oneDNN blocks channels by 16 fp32 lanes"
    if "avx2" in isa:
        return 8, "AVX2: oneDNN blocks channels by 8 fp32 lanes"
    return 4, "128-bit SIMD (NEON, SSE): 4 fp32 lanes"


def _padding(mod: nn.Conv2d) -> list[int]:
    if mod.padding == "valid":
        return [0, 0]
    if mod.padding == "same":
        return [d * (k - 1) // 2 for k, d in zip(mod.kernel_size, mod.dilation)]
    return list(mod.padding)


def largest_conv(model: nn.Module, example: torch.Tensor) -> dict[str, Any] | None:
    """The dense inner Conv2d that costs most when its input and output channels shrink together (a pruned
    layer's case; the stem, which reads the image, is left out) for `example` ((1, C, H, W)): name, channels,
    kernel, stride, padding, dilation and input size, and `widest`, the most output channels of any such
    convolution; None when the model has no such convolution."""
    from torch import nn

    from toolkit.prune.channels import run_hooked

    seen: dict[str, dict[str, Any]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.groups == 1:
            def record(mod: nn.Conv2d, inputs: tuple, output: torch.Tensor, name: str = name) -> None:
                if inputs[0].shape[1] == example.shape[1] and inputs[0].shape[-2:] == example.shape[-2:]:
                    return  # reads the image: its input channels are never pruned
                seen[name] = {"layer": name, "channels": mod.out_channels, "kernel": list(mod.kernel_size),
                              "stride": list(mod.stride), "padding": _padding(mod), "dilation": list(mod.dilation),
                              "input_hw": list(inputs[0].shape[-2:]),
                              "cost": output.shape[-2] * output.shape[-1] * mod.out_channels ** 2
                              * mod.kernel_size[0] * mod.kernel_size[1]}
            hooks.append(module.register_forward_hook(record))
    run_hooked(model, example, hooks)
    if not seen:
        return None
    return {**max(seen.values(), key=lambda c: c["cost"]), "widest": max(c["channels"] for c in seen.values())}


def probe_counts(channels: int) -> list[int]:
    """The channel counts timed: a window around 70% of the layer's channels (where a typical cut lands)."""
    centre = max(WINDOW + 1, round(channels * 0.7))
    return list(range(centre - WINDOW, centre + WINDOW))


def score_multiples(counts: list[int], p50_ms: list[float]) -> dict[int, float]:
    """Per candidate multiple: median channels per ms of the counts it allows / median over every count."""
    rate = {n: n / ms for n, ms in zip(counts, p50_ms) if ms > 0}
    overall = statistics.median(rate.values())
    return {m: round(statistics.median(r for n, r in rate.items() if n % m == 0) / overall, 4)
            for m in CANDIDATES if any(n % m == 0 for n in rate)}


def largest_allowed(channels: int) -> int:
    """The coarsest multiple auto may keep when the model's widest prunable layer has `channels`: a quarter of
    it (at least 1), so that layer keeps at least 4 sizes to choose from; a multiple as wide as a layer would
    keep it whole."""
    return max(1, channels // 4)


def pick_multiple(scores: dict[int, float], cap: int | None = None) -> int:
    """1 when no multiple up to `cap` (None: any) beats any count by more than NOISE; else the smallest such
    multiple that keeps most of their best gain (within a fifth of it, or NOISE / 3): a coarser multiple only
    makes targets harder to land."""
    allowed = {m: s for m, s in scores.items() if cap is None or m <= cap}
    best = max(allowed.values(), default=1.0)
    if best - 1 < NOISE:
        return 1
    slack = max(NOISE / 3, (best - 1) / 5)
    return min(m for m, s in allowed.items() if s >= best - slack)


def _time_counts(layer: dict[str, Any], counts: list[int], runtime_name: str, batch_size: int,
                 facts: PruneFacts, work: Path) -> list[float]:
    """p50 in ms of the layer at each count, in the precision of `facts`, all timed in the same rounds."""
    import torch
    from torch import nn

    from toolkit.measure.rounds import session_sampler, time_rounds
    from toolkit.prune.round_to_network import load_probe
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    h, w = layer["input_hw"]
    samplers = {}
    for n in counts:
        with torch.random.fork_rng():  # the probe's weights must not move the run's random stream
            torch.manual_seed(n)
            conv = nn.Sequential(nn.Conv2d(n, n, tuple(layer["kernel"]), tuple(layer["stride"]),
                                           tuple(layer["padding"]), tuple(layer["dilation"])), nn.ReLU()).eval()
            example = torch.randn(1, n, h, w)
            batches = [torch.randn(8, n, h, w)] if facts.precision == "int8" else []
        session = load_probe(runtime, conv, example, facts, batches, work / f"conv{n}.onnx")
        samplers[n] = session_sampler(session, example.repeat(batch_size, 1, 1, 1).numpy())[0]
    timed = time_rounds(samplers, PROBE_TIMING, PROBE_ROUNDS)
    return [timed[n]["p50_ms"] for n in counts]


def _table(base: dict[str, Any], device: str, why: str, log: Callable[[str], None]) -> dict[str, Any]:
    value, source = fallback_multiple(device, base["precision"])
    log(f"round_to auto: {value} from the table ({source}); nothing timed: {why}")
    return {**base, "value": value, "how": "table", "reason": f"{source}; not measured: {why}"}


def _read_cached(cache: Path | None, key: str, cap: int) -> dict[str, Any] | None:
    """A measurement kept earlier, when the file is ours and its multiple one we could have chosen (at most
    `cap`)."""
    from toolkit.fsutil import read_json

    try:
        cached = read_json(cache) if cache is not None and cache.is_file() else None
    except (ValueError, OSError):
        return None
    if isinstance(cached, dict) and type(cached.get("value")) is int and cached["value"] in CANDIDATES \
            and cached["value"] <= cap and cached.get("key") == key:
        return cached
    return None


def choose_round_to(model: nn.Module, example: torch.Tensor, runtime_name: str, batch_size: int,
                    facts: PruneFacts, cache_dir: Path | None, log: Callable[[str], None],
                    num_classes: int | None = None) -> dict[str, Any]:
    """The multiple for `round_to: auto` and why: {"value", "how" (measured | cached | table), "reason",
    "runtime", "precision", and for a measurement the layer, counts, p50_ms and scores; with `num_classes`,
    where the layer probe's pick and the table's differ, "network_check" (round_to_network.py) decides}.

    `example`: one (1, C, H, W) image; `cache_dir`: where measurements are kept per machine (None: not kept).
    Never raises for the measurement: a runtime that cannot time the precision here, or a probe that fails,
    gives the table's multiple with the reason."""
    import tempfile

    from toolkit.artifacts import ONNX, TORCH
    from toolkit.fsutil import atomic_write_json, stable_hash
    from toolkit.measure.device import describe_device, machine_fingerprint
    from toolkit.prune.precision import precision_problem
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    base = {"runtime": runtime_name, "precision": facts.precision, "batch_size": batch_size}
    layer = largest_conv(model, example)
    unavailable = runtime.unavailable() or precision_problem(runtime_name, facts.precision) or (
        None if {TORCH, ONNX} & runtime.formats else f"{runtime_name} runs neither torch nor ONNX models")
    if unavailable or layer is None:
        return _table(base, runtime.device, unavailable or "the model has no inner dense convolution to time", log)
    machine = machine_fingerprint(describe_device())
    # the network check (with num_classes) depends on the whole model: its convolutions' shapes join the key
    network = None if num_classes is None else [[m.in_channels, m.out_channels, *m.kernel_size, m.groups]
                                                 for m in model.modules() if type(m).__name__ == "Conv2d"]
    key = stable_hash({"machine": machine, **base, "scheme": facts.scheme, "network": network,
                       "layer": {k: layer[k] for k in ("channels", "kernel", "stride", "padding", "dilation",
                                                       "input_hw")}})
    cache = None if cache_dir is None or machine is None else Path(cache_dir) / f"{key}.json"
    cap = largest_allowed(layer["widest"])
    cached = _read_cached(cache, key, cap)
    if cached is not None:
        log(f"round_to auto: {cached['value']} (measured earlier on this machine: {cache})")
        return {**cached, "how": "cached"}
    counts = probe_counts(layer["channels"])
    from toolkit.measure.system import busy, system_notes

    notes = system_notes()
    from toolkit.prune.round_to_network import with_network_check

    with tempfile.TemporaryDirectory(prefix="round-to-") as work:
        try:
            p50 = _time_counts(layer, counts, runtime_name, batch_size, facts, Path(work))
        except Exception as exc:  # a quantizer or runtime failing on a probe layer must not end the prune
            from toolkit.measure.interrupts import reraise_if_interrupted

            reraise_if_interrupted(exc)  # ... but Ctrl-C inside native code still stops the run
            return _table(base, runtime.device, f"timing the probe layer failed: {type(exc).__name__}: {exc}", log)
        scores = score_multiples(counts, p50)
        value = pick_multiple(scores, cap)
        best = max(scores, key=scores.__getitem__)
        capped = (f"; {best} scored best ({scores[best]}x) but would leave the widest layer ({layer['widest']} "
                  f"channels) under 4 sizes to choose from, so auto stops at {cap}") if best > cap else ""
        reason = (f"timed {layer['layer']} ({layer['kernel'][0]}x{layer['kernel'][1]}, {layer['input_hw'][0]}x"
                  f"{layer['input_hw'][1]} input) at {counts[0]}-{counts[-1]} channels in {facts.precision} on "
                  f"{runtime_name}: multiples of {value} give {scores.get(value, 1.0)}x the channels per ms of "
                  f"any count (near-ties go to the smaller multiple{capped})")
        checked = with_network_check({**base, "value": value, "reason": reason, "largest_allowed": cap}, model,
                                     example, facts, fallback_multiple(runtime.device, facts.precision)[0],
                                     num_classes, Path(work), PROBE_TIMING, PROBE_ROUNDS, NOISE, log)
    value, reason = checked["value"], checked["reason"]
    after = system_notes()
    loaded = next((n for n in (notes, after) if busy(n)), None)
    if loaded:  # not kept: the next run on this machine measures again, when it may be quiet
        reason += (f"; timed on a busy machine (load {loaded['load_avg'][0]:g} on {loaded['logical_cpus']} CPUs), "
                   f"so the choice may be noise and is not cached")
    log(f"round_to auto: {value}; {reason}")
    record = {**base, "value": value, "how": "measured", "reason": reason, "key": key, "largest_allowed": cap,
              "layer": {k: v for k, v in layer.items() if k not in ("cost", "widest")}, "counts": counts,
              "p50_ms": [round(v, 5) for v in p50], "scores": {str(m): s for m, s in scores.items()},
              "system": {"before": notes, "after": after},  # the reason's load is the busier of the two
              **{k: checked[k] for k in ("network_check", "layer_probe_value") if k in checked}}
    if cache is not None and not loaded:
        atomic_write_json(cache, record)
    return record


def table_round_to(cfg: Prune) -> tuple[int, str]:
    """For what prunes without measuring (`compress inspect`, `compress analyze`): the table's multiple for a
    `round_to: auto` stage's runtime and precision, and a note saying so."""
    from toolkit.runtimes import get_runtime

    facts = cfg.resolved if cfg.resolved is not None else cfg.resolve(None)
    value, source = fallback_multiple(get_runtime(cfg.target.runtime).device, facts.precision)
    return value, f"round_to: auto is stood in for by {value} ({source}); the prune stage measures its own"


def rounding_blocked(channels: dict[str, list[int | None]], multiple: int | None, kept: set[str]) -> list[str]:
    """Layers the multiple kept whole: `channels` maps a layer to [before, after] output channels; a layer of at
    most `multiple` channels that was not cut cannot be, since rounding never goes below one multiple. `kept`:
    layers kept whole for another reason (the classifier, `ignore`), left out."""
    if not multiple or multiple <= 1:
        return []
    return [name for name, (before, after) in channels.items()
            if name not in kept and before <= multiple and after == before]
