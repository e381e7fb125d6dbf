"""Is the pruned model measured slower than its input? Read from the latency search's own measurements.

Only a `latency_speedup` target times the model inside the prune stage: every probe is timed against the
unpruned input in the same interleaved rounds, with a bootstrap interval on the speedup. The kept probe is
called slower only when its whole interval lies below 1x, as the quantize stage calls INT8 slower than
fp32 (`toolkit.quantize.speed_flags`). Other targets measure nothing here: their latency is the run's
per-stage measurement, and no second timing pass is added for this flag. No torch: the report reads it.
"""

from __future__ import annotations

from typing import Any


def pruned_vs_input(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The kept network's speed against the unpruned input, from the last latency-searched step.

    Returns {"records": [{runtime, batch_size, input_p50_ms, pruned_p50_ms, speedup, speedup_interval,
    unstable, pruned_slower, decided}], "slower_on": ["runtime@bs"], "note"}; None when no step was a
    latency search (nothing was timed). Each step is timed against the same unpruned input, so the last
    one speaks for the model the stage returns.
    """
    searched = [s for s in steps if s.get("chosen")]
    if not searched:
        return None
    step = searched[-1]
    chosen = step["chosen"]
    low, high = chosen["speedup_ci"]
    slower, faster = high < 1.0, low > 1.0
    record = {"runtime": step["runtime"], "batch_size": int(step["batch_size"]), "input_p50_ms": chosen["base_ms"],
              "pruned_p50_ms": chosen["latency_ms"], "speedup": chosen["speedup"], "speedup_interval": [low, high],
              "unstable": bool(chosen.get("unstable")), "pruned_slower": bool(slower),
              "decided": "pruned slower" if slower else "pruned faster" if faster else "within noise"}
    return {"records": [record], "slower_on": [f"{record['runtime']}@{record['batch_size']}"] if slower else [],
            "note": "the kept network and its unpruned input timed in interleaved rounds by the latency search; "
                    "pruned is flagged slower only when its whole speedup interval lies below 1x"}


def pruned_slower(extra: dict[str, Any] | None) -> set[tuple[str, int]]:
    """(runtime, batch size) pairs where the prune stage measured its pruned model slower than its input."""
    check = (extra or {}).get("pruned_vs_input") or {}
    return {(r["runtime"], int(r["batch_size"])) for r in check.get("records", []) if r.get("pruned_slower")}


def slower_message(record: dict[str, Any]) -> str:
    """The warning for a pruned model measured slower than its input (one `pruned_vs_input` record)."""
    return (f"the pruned model is slower than its input on {record['runtime']} at batch {record['batch_size']}: "
            f"{record['pruned_p50_ms']} ms vs {record['input_p50_ms']} ms p50 (speedup interval "
            f"{record['speedup_interval']}); channel counts this runtime's kernels handle worse than the "
            f"originals cost more than the removed MACs save: keep the input model on this runtime, or prune with "
            f"a larger round_to or a lower target")
