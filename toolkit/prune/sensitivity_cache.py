"""The analysis on plain arguments, with its state in a JSON file so an interrupted analysis resumes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.fsutil import atomic_write_json, read_json, stable_hash
from toolkit.prune.channels import PrunePlan
from toolkit.version import __version__

FORMAT = 2  # 2: MACs counted by FlopCounterMode (1: Torch-Pruning, with norms and activations)
ANALYSIS_DIR = "analysis"


def plan_dict(plan: PrunePlan) -> dict[str, Any]:
    """The parts of a prune plan that change the analysis (for keys and the JSON record)."""
    out = {"method": plan.method, "max_layer_ratio": plan.max_layer_ratio, "round_to": plan.round_to,
           "ignore": list(plan.ignore), "num_classes": plan.num_classes}
    if plan.method == "random":  # the seed picks the channels only for the random criterion
        out["seed"] = plan.seed
    return out


def pruning_key(fingerprint: str, *, runtime: str | None, batch_size: int, samples: int,
                ratios: tuple[float, ...], rounds: int, plan: PrunePlan, data_key: str) -> str:
    """Content key of a pruning analysis: the model's weights, where and how it is measured, the data."""
    return stable_hash({"model": fingerprint, "runtime": runtime, "batch_size": batch_size, "samples": samples,
                        "ratios": list(ratios), "rounds": rounds, "plan": plan_dict(plan), "data": data_key,
                        "toolkit": __version__, "format": FORMAT})


def load_state(path: Path, key: str) -> dict[str, Any]:
    """The saved state of an interrupted analysis with this key, else an empty one."""
    try:
        saved = read_json(path)
    except ValueError:
        return {}
    state = saved.get("state") if isinstance(saved, dict) and saved.get("key") == key else None
    return state if isinstance(state, dict) else {}  # an edited file of another shape: start again


def state_saver(path: Path, key: str) -> Callable[[dict[str, Any]], None]:
    """save(state): write the state atomically with its key (an interruption keeps the previous one)."""
    return lambda state: atomic_write_json(path, {"key": key, "state": state})


def torch_accuracy(val_batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]], num_classes: int
                   ) -> Callable[[nn.Module], float]:
    """accuracy_of(model): top-1 (fraction) of a torch model on the CPU over `val_batches()`."""
    from toolkit.measure.accuracy import evaluate, torch_predict

    def accuracy_of(model: nn.Module) -> float:
        result = evaluate(torch_predict(model, torch.device("cpu")), val_batches(), num_classes)
        return float(result["top1"] or 0.0)

    return accuracy_of


def run_pruning_analysis(model: nn.Module, example: torch.Tensor, plan: PrunePlan, *,
                         accuracy_of: Callable[[nn.Module], float], runtime: str | None, batch_size: int,
                         ratios: tuple[float, ...], rounds: int, state_file: Path, key: str,
                         threads: int | None = None, log: Callable[[str], None] = lambda m: None
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run (or resume from `state_file`) the pruning analysis; returns (pruning_table rows, state)."""
    from toolkit.measure.paired import runtime_callers
    from toolkit.prune.sensitivity import analyze_pruning, pruning_table

    state = load_state(state_file, key)
    if state:
        log(f"resuming the pruning analysis from {state_file}")
    save = state_saver(state_file, key)
    if runtime is None:
        state = analyze_pruning(model, example, plan, accuracy_of=accuracy_of, load_caller=None, ratios=ratios,
                                rounds=rounds, state=state, save=save, log=log)
    else:
        with runtime_callers(runtime, batch_size, example, threads) as load:
            state = analyze_pruning(model, example, plan, accuracy_of=accuracy_of, load_caller=load, ratios=ratios,
                                    rounds=rounds, state=state, save=save, log=log)
    save(state)
    return pruning_table(state), state


def find_cached(run_dir: Path, field: str, key: str) -> dict[str, Any] | None:
    """A finished analysis JSON in run_dir/analysis whose `field` (e.g. prune_key) equals `key`."""
    for path in sorted((Path(run_dir) / ANALYSIS_DIR).glob("sensitivity-*.json")):
        try:
            data = read_json(path)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get(field) == key and data.get("complete"):
            return data
    return None
