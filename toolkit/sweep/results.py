"""A trial's objective values from its run, and the sweep's results: status lines, the Pareto set, the
recommended trial, summary.json and summary.md."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from toolkit.formatting import markdown_text
from toolkit.fsutil import atomic_write_json, atomic_write_text
from toolkit.records import HAS_MODEL
from toolkit.run.verdict import DEGRADED
from toolkit.sweep.recovery import LOST_REASON, is_lost, state_word
from toolkit.sweep.spec import Objective, SweepPlan


class TrialFailed(Exception):
    """A trial that ran but cannot stand in the Pareto set (failed run, degraded stage, missing metric)."""


def objective_values(stages: list[Any], objectives: list[Objective]) -> tuple[list[float], str]:
    """The objective values of a finished run (its StageOutcomes) and the stage they come from.

    Raises TrialFailed naming the reason: a degraded stage, no stage with a model, a metric not measured."""
    degraded = [s for s in stages if s.status == DEGRADED]
    if degraded:
        raise TrialFailed(f"stage {degraded[0].directory.name} degraded: {degraded[0].reason}")
    final = next((s for s in reversed(stages) if s.status in HAS_MODEL), None)
    if final is None:
        raise TrialFailed("no stage produced a model")
    metrics, where = final.metrics, final.directory.name
    values = []
    for objective in objectives:
        if objective.name == "top1":
            value = (metrics.get("accuracy") or {}).get("top1")
        elif objective.name == "size_bytes":
            value = (metrics.get("model") or {}).get("size_bytes")
        else:
            value = next((r.get("p50_ms") for r in metrics.get("latency") or []
                          if r.get("runtime") == objective.runtime and r.get("batch_size") == objective.batch_size
                          and r.get("status") == "ok"), None)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TrialFailed(f"{where} has no {objective.label}" if not isinstance(value, (int, float))
                              else f"{where}: {objective.label} is {value}")
        values.append(float(value))
    return values, where


def trial_rows(study: Any, objectives: list[Objective]) -> list[dict[str, Any]]:
    """Every trial as plain data: number, state, values by objective label, params, reason, run folder, seconds,
    whether it is in the Pareto set (study.best_trials: complete trials only, so never a failed one)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pareto = {t.number for t in study.best_trials} if complete else set()
    rows = []
    for t in trials:
        if t.user_attrs.get("skipped"):  # started after the budget was taken: nothing ran
            continue
        values = dict(zip([o.label for o in objectives], t.values)) if t.values else {}
        # failed by Optuna's heartbeat: no reason of its own
        reason = t.user_attrs.get("reason") or (LOST_REASON if t.state == TrialState.FAIL else None)
        rows.append({"number": t.number, "state": t.state.name, "interrupted": is_lost(t),
                     "values": values, "params": dict(t.params),
                     "reason": reason, "run_dir": t.user_attrs.get("run_dir"),
                     "seconds": t.user_attrs.get("seconds"), "overhead_s": t.user_attrs.get("overhead_s"),
                     "retry_of": t.user_attrs.get("retry_of"), "final_stage": t.user_attrs.get("final_stage"),
                     "pareto": t.number in pareto})
    return rows


def recommend(rows: list[dict[str, Any]], objectives: list[Objective], max_drop: float) -> int | None:
    """The recommended trial: among the Pareto set, those within `max_drop` top-1 points of the best top-1,
    then the fastest (p50), else the smallest, else the most accurate. None without a complete trial."""
    pareto = [r for r in rows if r["pareto"]]
    if not pareto:
        return None
    labels = {o.name: o.label for o in objectives}
    if "top1" in labels:
        best = max(r["values"][labels["top1"]] for r in pareto)
        pareto = [r for r in pareto if 100.0 * (best - r["values"][labels["top1"]]) <= max_drop + 1e-9]
    for name, sign in (("p50", 1), ("size_bytes", 1), ("top1", -1)):
        if name in labels:
            return min(pareto, key=lambda r: (sign * r["values"][labels[name]], r["number"]))["number"]
    return pareto[0]["number"]


def _value_text(value: float, label: str) -> str:
    return f"{value:.4f}" if label == "top1" else f"{int(value)}" if label == "size_bytes" else f"{value:.4g}"


def trial_line(row: dict[str, Any]) -> str:
    """One line of `--status` and of the progress: number, state, values, params, reason, run folder."""
    values = " ".join(f"{k}={_value_text(v, k)}" for k, v in row["values"].items())
    params = " ".join(f"{k}={v}" for k, v in row["params"].items())
    state = state_word(row)
    parts = [f"trial {row['number']:>4}", f"{state:<8}" + (" *pareto" if row["pareto"] else "")]
    parts += [p for p in (values, params) if p]
    if row.get("seconds") is not None:
        parts.append(f"{row['seconds']:.1f} s")
    if row.get("reason"):
        parts.append(f"reason: {row['reason']}")
    if row.get("run_dir"):
        parts.append(str(row["run_dir"]))
    return " | ".join(parts)


def write_summary(plan: SweepPlan, study: Any) -> tuple[Path, Path, Path]:
    """Write `<sweep folder>/summary.json` (strict JSON), `summary.md` and the HTML report; return the paths."""
    from toolkit.sweep.report import write_sweep_report

    rows = trial_rows(study, plan.objectives)
    chosen = recommend(rows, plan.objectives, plan.recipe.report.max_accuracy_drop)
    summary = {"name": plan.recipe.name, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sampler": plan.sampler,
               "budget": plan.budget, "objectives": [{"name": o.name, "label": o.label, "direction": o.direction,
                                                      "runtime": o.runtime, "batch_size": o.batch_size}
                                                     for o in plan.objectives],
               "dimensions": [d.path for d in plan.dimensions], "recipe_hash": plan.fingerprint,
               "max_accuracy_drop": plan.recipe.report.max_accuracy_drop, "recommended": chosen,
               "pareto": [r["number"] for r in rows if r["pareto"]], "trials": rows}
    json_path, md_path = plan.sweep_dir / "summary.json", plan.sweep_dir / "summary.md"
    atomic_write_json(json_path, summary)
    atomic_write_text(md_path, _markdown(plan, rows, chosen))
    return json_path, md_path, write_sweep_report(plan, rows, chosen)


def _markdown(plan: SweepPlan, rows: list[dict[str, Any]], chosen: int | None) -> str:
    labels = [o.label for o in plan.objectives]
    paths = [d.path for d in plan.dimensions]
    lines = [f"# Sweep {markdown_text(plan.recipe.name)}", "",
             f"{len(rows)} trial(s); sampler {plan.sampler}; budget {plan.budget}. "
             f"Pareto set: {', '.join(str(r['number']) for r in rows if r['pareto']) or 'none yet'}.", ""]
    if chosen is not None:
        lines += [f"Recommended: trial {chosen}, the fastest of the Pareto set within "
                  f"{plan.recipe.report.max_accuracy_drop} top-1 points of the best.", ""]
    head = ["trial", "state", "Pareto", *labels, *paths, "reason", "run folder"]
    lines += ["| " + " | ".join(markdown_text(h) for h in head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["number"]) + (" (recommended)" if r["number"] == chosen else ""), r["state"].lower(),
                 "yes" if r["pareto"] else "",
                 *[_value_text(r["values"][k], k) if k in r["values"] else "" for k in labels],
                 *[str(r["params"].get(p, "")) for p in paths], r["reason"] or "", r["run_dir"] or ""]
        lines.append("| " + " | ".join(markdown_text(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
