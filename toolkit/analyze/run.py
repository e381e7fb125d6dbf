"""`compress analyze RECIPE`: the sensitivity analysis of the model at one point of a recipe's run folder."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolkit.errors import UserInputError
from toolkit.fsutil import atomic_write_json, read_json, stable_hash
from toolkit.measure.interrupts import check
from toolkit.prune.sensitivity import DEFAULT_RATIOS
from toolkit.prune.sensitivity_cache import (
    ANALYSIS_DIR,
    FORMAT,
    load_state,
    plan_dict,
    pruning_key,
    run_pruning_analysis,
    state_saver,
    torch_accuracy,
)
from toolkit.recipe import Recipe
from toolkit.version import __version__


def _stage_point(recipe: Recipe, at: str | None) -> tuple[int, str, str]:
    """(index, name, cache key) of the chosen point; default: the first train stage, else the input."""
    from toolkit.run.pipeline import Runner

    runner = Runner(recipe)
    stages = recipe.stages
    plan = ([(0, "input")] if stages[0].stage_type != "train" else []) + [(i + 1, s.name) for i, s in enumerate(stages)]
    if at is None:
        at = next((s.name for s in stages if s.stage_type == "train"), "input" if plan[0][1] == "input" else None)
    names = [n for _, n in plan]
    if at not in names:
        raise UserInputError(f"--at: no point named {at!r} in {recipe.name}; points: {', '.join(names)}")
    key = runner.input_key()
    for index, name in plan:
        key = runner.next_key(key, stages[index - 1] if index else None)
        if name == at:
            return index, name, key
    raise AssertionError("unreachable")


def _prune_stage(recipe: Recipe):
    """The prune stage an analysis serves: the first with allocation: sensitivity (it reuses the analysis only
    when runtime, batch and plan match), else the first with a latency target, else the first, else None."""
    prunes = [s for s in recipe.stages if s.stage_type == "prune"]
    return next((s for s in prunes if s.allocation == "sensitivity"), None) or \
        next((s for s in prunes if s.target.latency_speedup is not None), None) or next(iter(prunes), None)


def _prune_settings(recipe: Recipe, data, seed: int):
    """The recipe's prune stage options as a plan (taylor falls back to l2: it needs labelled gradients)."""
    from toolkit.prune.channels import PrunePlan

    cfg = _prune_stage(recipe)
    if cfg is None:
        return PrunePlan(num_classes=data.num_classes, seed=seed), None
    method = "l2" if cfg.method == "taylor" else cfg.method
    round_to = cfg.round_to
    if round_to == "auto":  # the analysis prunes many copies: the table's multiple, not a measurement each time
        from toolkit.prune.round_to import table_round_to

        round_to = table_round_to(cfg)[0]
    return PrunePlan(method, False, cfg.max_layer_ratio, round_to, list(cfg.ignore), data.num_classes, seed), cfg


def target_of(recipe: Recipe, runtime: str | None, batch_size: int | None) -> tuple[str, int]:
    """The runtime and batch size to time on: given, else the prune stage's (with a latency target or sensitivity
    allocation), else the recipe's first measured runtime and batch size."""
    prune = _prune_stage(recipe)
    uses_target = prune is not None and (prune.target.latency_speedup is not None or prune.allocation == "sensitivity")
    t = prune.target if uses_target else None
    return (runtime or (t.runtime if t else recipe.measure.runtimes[0]),
            batch_size or (t.batch_size if t else recipe.measure.batch_sizes[0]))


def analyze_recipe(recipe: Recipe, *, at: str | None = None, runtime: str | None = None,
                   batch_size: int | None = None, samples: int = 2000, ratios: tuple[float, ...] = DEFAULT_RATIOS,
                   rounds: int = 5, int8: bool = True, fresh: bool = False, command: str = "",
                   log: Callable[[str], None] = print) -> tuple[Path, dict[str, Any]]:
    """Analyze the torch model the run folder holds at point `at`; returns (JSON path, result).

    Cached by content key (the model's weights, runtime, batch, ratios, subset, options); an interrupted
    analysis resumes from its partial state. Raises UserInputError when the point has not been run, and
    KeyboardInterrupt between steps once the process was asked to stop (the partial state keeps each step done).
    """
    log = _checked(log)
    from toolkit.api import model_fingerprint
    from toolkit.data import build_data
    from toolkit.run.folder import RunFolder
    from toolkit.run.stage_runner import load_output

    index, name, stage_key = _stage_point(recipe, at)
    folder = RunFolder(recipe.run_dir)
    metrics = folder.cached(index, name, stage_key)
    label = f"{index:02d}-{name}"
    if metrics is None:
        raise UserInputError(f"{folder.root / label} is missing or was made by a different recipe: run "
                             f"`compress run` on this recipe first (the analysis reads the model it saved)")
    if (metrics.get("model") or {}).get("format") != "torch":
        raise UserInputError(f"--at {name}: the analysis prunes a torch model; {label} holds "
                             f"{(metrics.get('model') or {}).get('format')}")
    runtime, batch_size = target_of(recipe, runtime, batch_size)
    from toolkit.runtimes import get_runtime, runtime_names

    if runtime not in runtime_names():
        raise UserInputError(f"--runtime: unknown runtime {runtime!r}; known: {', '.join(runtime_names())}")
    reason = get_runtime(runtime).unavailable()
    if reason:
        raise UserInputError(f"--runtime {runtime} cannot run here: {reason}")
    model = load_output(folder.stage_dir(index, name), metrics, None)
    data = build_data(recipe.data, recipe.seed)
    plan, _ = _prune_settings(recipe, data, recipe.seed)
    example = data.example_input(1)
    data_key = stable_hash({"data": recipe.data.key_dict(), "source": None, "seed": recipe.seed})
    fingerprint = model_fingerprint(model)
    samples = min(samples, len(data.val))
    prune_key = pruning_key(fingerprint, runtime=runtime, batch_size=batch_size, samples=samples, ratios=ratios,
                            rounds=rounds, plan=plan, data_key=data_key)
    quant = _int8_settings(recipe) if int8 else None
    key = stable_hash({"prune": prune_key, "int8": quant})
    out_dir = folder.root / ANALYSIS_DIR
    final = out_dir / f"sensitivity-{label}.json"
    work = out_dir / f".sensitivity-{label}.partial"
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
    elif final.is_file():
        try:
            cached = read_json(final)
        except ValueError:
            cached = {}
        if isinstance(cached, dict) and cached.get("key") == key and cached.get("complete"):  # [] edited in: redo
            log(f"cached: {final}")
            return final, cached
    try:
        stale = read_json(work / "key.json").get("key") != key
    except (ValueError, AttributeError):
        stale = True
    if stale:  # a partial analysis of another model or other options: nothing in it is reusable
        shutil.rmtree(work, ignore_errors=True)
        atomic_write_json(work / "key.json", {"key": key})
    started = time.perf_counter()
    accuracy_of = _checked(torch_accuracy(lambda: data.val_batches(limit=samples), data.num_classes))
    rows, state = run_pruning_analysis(model, example, plan, accuracy_of=accuracy_of, runtime=runtime,
                                       batch_size=batch_size, ratios=ratios, rounds=rounds,
                                       state_file=work / "pruning.json", key=prune_key,
                                       threads=recipe.measure.threads, log=log)
    from toolkit.measure.paired import summarize_rounds

    result: dict[str, Any] = {
        "format": FORMAT, "complete": False, "key": key, "prune_key": prune_key, "command": command,
        "toolkit_version": __version__, "recipe": recipe.name,
        "model": {"point": label, "stage_key": stage_key, "fingerprint": fingerprint,
                  "sha256": (metrics.get("model") or {}).get("sha256"), "arch": recipe.model.arch},
        "data": {"split": "validation", "samples": samples, "selection": f"the first {samples} images",
                 "dataset": recipe.data.dataset, "image_size": data.input_shape.image_size,
                 "channels": data.input_shape.channels},
        "runtime": {"name": runtime, "batch_size": batch_size, "base_ms": summarize_rounds(
            state["latency_rounds"])[0], "rounds": rounds, "pairing": "each variant timed right after the "
            "unpruned model, in rounds; the median saving is kept"},
        "plan": plan_dict(plan), "ratios": list(ratios), "baseline": state["baseline"], "groups": state["groups"],
        "pruning": rows, "seconds": {"pruning": round(state.get("seconds", 0.0), 2)}}
    if quant is not None:
        int8_result = _int8_analysis(model, recipe, data, quant, samples, work, log)
        result["int8"] = int8_result
        result["seconds"]["int8"] = int8_result.pop("seconds")
    result["seconds"]["total"] = round(sum(result["seconds"].values()), 2)
    result["seconds"]["this_call"] = round(time.perf_counter() - started, 2)
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    from toolkit.measure.device import describe_device

    result["device"] = describe_device()
    result["complete"] = True
    _write_charts(result, final)  # before the JSON: a complete JSON is what makes the next call a cache hit
    check()
    atomic_write_json(final, result)
    shutil.rmtree(work, ignore_errors=True)
    return final, result


def _checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` preceded by a stop check: the analysis calls its callbacks between steps, and an interrupt that
    native code (numpy, torch, ONNX Runtime) swallowed on its way up must still stop it there."""

    def call(*args: Any, **kwargs: Any) -> Any:
        check()
        return fn(*args, **kwargs)

    return call


def _write_charts(result: dict[str, Any], final: Path) -> None:
    from toolkit.report.sensitivity_chart import write_chart

    write_chart(result, final.with_suffix(".svg"))
    write_chart(result, final.with_suffix(".png"))


def _int8_settings(recipe: Recipe) -> dict[str, Any]:
    from toolkit.stages import Quantize

    cfg = next((s for s in recipe.stages if s.stage_type == "quantize"), None) or Quantize()
    calib = cfg.calibration
    return {"scheme": cfg.resolve(recipe).scheme, "per_channel": cfg.per_channel, "method": calib.method,
            "samples": calib.samples, "percentile": calib.percentile, "batch_size": calib.batch_size}


def _int8_analysis(model, recipe: Recipe, data, quant: dict[str, Any], samples: int, work: Path,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Export, pre-process and calibrate once, then rank every quantizable layer on ONNX Runtime."""
    from toolkit.artifacts import ONNX, ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.measure.accuracy import evaluate
    from toolkit.quantize.layer_sensitivity import analyze_int8, int8_table
    from toolkit.quantize.ptq import BatchReader, preprocess, quantize
    from toolkit.runtimes import get_runtime

    fp32, prep = work / "model.fp32.onnx", work / "model.prep.onnx"
    if not prep.is_file():
        export_onnx(model, fp32, data.example_input(1))
        preprocess(fp32, prep)
    state_file = work / "int8.json"
    key = stable_hash({"quant": quant, "samples": samples})  # the folder itself is keyed by the model
    state = load_state(state_file, key)
    reader = BatchReader(data.calibration_batches(quant["samples"], quant["batch_size"], recipe.seed), "input")
    cache = work / "calibration.json"
    common = dict(scheme=quant["scheme"], method=quant["method"], percentile=quant["percentile"],
                  per_channel=quant["per_channel"], cache_file=cache)

    def quantize_excluding(names: list[str], path: Path) -> None:
        quantize(prep, path, reader=None if cache.is_file() else reader, exclude=names, **common)

    def accuracy_of(path: Path) -> float:
        session = get_runtime("onnxruntime-cpu").load(ModelArtifact(ONNX, path))
        return float(evaluate(session.predict, data.val_batches(limit=samples), data.num_classes)["top1"] or 0.0)

    state = analyze_int8(prep, work, quantize_excluding=_checked(quantize_excluding),
                         accuracy_of=_checked(accuracy_of), state=state, save=state_saver(state_file, key), log=log)
    return {"settings": quant, "runtime": "onnxruntime-cpu", "fp32_top1": state["fp32_top1"],
            "int8_top1": state["int8_top1"], "layers": int8_table(state), "seconds": round(state["seconds"], 2)}
