"""Accuracy-gated fallback: rank layers by the accuracy kept in float recovers, keep the worst in float."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

QUANTIZABLE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def quantizable_nodes(model_file: Path) -> list[tuple[str, str]]:
    """(name, op_type) of the compute nodes the quantizer would quantize."""
    import onnx

    model = onnx.load(str(model_file))
    return [(n.name, n.op_type) for n in model.graph.node if n.op_type in QUANTIZABLE_OPS and n.name]


def keep_sensitive_in_float(quantize_excluding: Callable[[list[str], Path], None],
                            accuracy_of: Callable[[Path], float], prep: Path, out: Path, work: Path, *,
                            fp32_top1: float, int8_top1: float, max_drop_points: float, max_float_layers: int,
                            log: Callable[[str], None], already_float: Collection[str] = ()) -> dict[str, Any]:
    """Greedy, re-ranked: keep in float the layer whose exclusion recovers most, given those already kept.

    Sensitivity of a layer = top-1 points recovered when it stays float (on top of the layers already kept);
    the ranking is redone after each choice because layers interact (a float layer changes what its
    neighbours' quantization costs). The best model found is written to `out` even when the bound is missed.
    Layers in `already_float` (excluded by the recipe, or left float by the quantizer) are not candidates.
    """
    trial = work / "trial.int8.onnx"
    nodes = {name: op for name, op in quantizable_nodes(prep) if name not in set(already_float)}
    kept: list[str] = []
    current = int8_top1
    rounds: list[list[dict[str, Any]]] = []
    best_top1, best_kept = int8_top1, []
    while len(kept) < max_float_layers and (fp32_top1 - current) * 100 > max_drop_points:
        table = []
        for name, op in nodes.items():
            if name in kept:
                continue
            quantize_excluding(kept + [name], trial)
            top1 = accuracy_of(trial)
            table.append({"node": name, "op": op, "top1_if_float": top1,
                          "recovered_points": round((top1 - current) * 100, 3)})
        if not table:
            break
        table.sort(key=lambda row: -row["top1_if_float"])
        rounds.append(table)
        choice = table[0]
        kept.append(choice["node"])
        current = choice["top1_if_float"]
        log(f"keeping {len(kept)} layer(s) in float (+{choice['node']}): top-1 {current:.4f}")
        if current > best_top1:
            best_top1, best_kept = current, list(kept)
    quantize_excluding(best_kept, out)
    trial.unlink(missing_ok=True)
    chosen = {r["node"]: r for table in rounds for r in table[:1]}
    return {"bound_met": (fp32_top1 - best_top1) * 100 <= max_drop_points, "int8_top1": best_top1,
            "sensitivity": rounds[0] if rounds else [], "rounds": len(rounds),
            "kept_float": [{"node": n, "op": chosen[n]["op"], "why": f"keeping it in float recovers "
                            f"{chosen[n]['recovered_points']} top-1 points (round {i + 1})"}
                           for i, n in enumerate(best_kept)]}
