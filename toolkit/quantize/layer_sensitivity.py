"""INT8 sensitivity per layer: top-1 with only that layer in INT8, and with only that layer kept in float.

"Only it kept float" is the first round of the quantize stage's own ranking
(toolkit.quantize.float_fallback.keep_sensitive_in_float), called here so both rank layers the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolkit.quantize.float_fallback import keep_sensitive_in_float, quantizable_nodes


def analyze_int8(prep: Path, work: Path, *, quantize_excluding: Callable[[list[str], Path], None],
                 accuracy_of: Callable[[Path], float], state: dict[str, Any] | None = None,
                 save: Callable[[dict[str, Any]], None] = lambda s: None,
                 log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Rank the quantizable layers (Conv, Gemm, MatMul) of the pre-processed fp32 ONNX model `prep`.

    `quantize_excluding(names, path)` writes the Q/DQ model with `names` kept float; `accuracy_of(path)` is
    its top-1 (a fraction). Results already in `state` are reused; `save(state)` follows every layer.
    Returns the state: fp32_top1, int8_top1, and per layer `only_int8_top1` and `only_float_top1`.
    """
    state = state if state is not None else {}
    started = time.perf_counter() - float(state.get("seconds", 0.0))
    work.mkdir(parents=True, exist_ok=True)
    nodes = quantizable_nodes(prep)
    trial = work / "int8-trial.onnx"
    if "fp32_top1" not in state:
        state["fp32_top1"] = accuracy_of(prep)
        quantize_excluding([], trial)
        state["int8_top1"] = accuracy_of(trial)
        state["layers"] = {name: {"op": op} for name, op in nodes}
        save(state)
    layers = state["layers"]
    names = list(layers)
    for i, name in enumerate(names, 1):
        if "only_int8_top1" in layers[name]:
            continue
        quantize_excluding([n for n in names if n != name], trial)
        layers[name]["only_int8_top1"] = accuracy_of(trial)
        state["seconds"] = time.perf_counter() - started
        save(state)
        log(f"int8 layer {i}/{len(names)} {name}: top-1 alone in int8 {layers[name]['only_int8_top1']:.4f}")
    asked: dict[str, str | None] = {"name": None}

    def quantize_memo(exclude: list[str], path: Path) -> None:
        asked["name"] = exclude[-1] if exclude else None
        if asked["name"] is None or "only_float_top1" not in layers[asked["name"]]:
            quantize_excluding(exclude, path)

    def accuracy_memo(path: Path) -> float:
        name = asked["name"]
        if name is None:
            return accuracy_of(path)
        if "only_float_top1" not in layers[name]:
            layers[name]["only_float_top1"] = accuracy_of(path)
            state["seconds"] = time.perf_counter() - started
            save(state)
        return layers[name]["only_float_top1"]

    # max_drop_points below zero: exactly one ranking round, over every layer.
    keep_sensitive_in_float(quantize_memo, accuracy_memo, prep, work / "int8-ranked.onnx", work,
                            fp32_top1=state["fp32_top1"], int8_top1=state["int8_top1"], max_drop_points=-1.0,
                            max_float_layers=1, log=log)
    (work / "int8-ranked.onnx").unlink(missing_ok=True)
    trial.unlink(missing_ok=True)
    state["seconds"] = time.perf_counter() - started
    return state


def int8_table(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per layer: points lost with only it in INT8, points recovered with only it kept float."""
    fp32, int8 = state["fp32_top1"], state["int8_top1"]
    rows = []
    for name, layer in state["layers"].items():
        rows.append({"node": name, "op": layer["op"], "only_int8_top1": layer.get("only_int8_top1"),
                     "only_float_top1": layer.get("only_float_top1"),
                     "points_lost_alone": None if layer.get("only_int8_top1") is None
                     else round((fp32 - layer["only_int8_top1"]) * 100, 4),
                     "points_recovered_float": None if layer.get("only_float_top1") is None
                     else round((layer["only_float_top1"] - int8) * 100, 4)})
    return rows
