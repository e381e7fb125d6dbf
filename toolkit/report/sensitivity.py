"""The report's sensitivity section: the analysis chart and tables, and sensitivity-allocated prune stages."""

from __future__ import annotations

from typing import Any

from toolkit.fsutil import read_json
from toolkit.report.collect import RunView


SHAPE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError, RecursionError)
"""What drawing a hand-edited analysis file can raise: the file is left out of the report, named."""


def _analyses(run: RunView) -> tuple[list[dict[str, Any]], list[str]]:
    """(analyses the report shows, why each other analysis file is left out)."""
    from toolkit.report.sensitivity_chart import chart_uri, top_tables

    out, problems = [], []
    for path in sorted((run.path / "analysis").glob("sensitivity-*.json")):
        try:
            result = read_json(path)
        except ValueError as exc:
            problems.append(f"{exc}; left out of the report")
            continue
        if not isinstance(result, dict):
            problems.append(f"{path}: not a JSON object as compress analyze writes it; left out of the report")
            continue
        if not result.get("complete") or "pruning" not in result:
            continue  # an analysis still running (or stopped): nothing to show yet
        try:
            out.append({"file": path.name, "result": result, "svg": chart_uri(result),
                        "top": _formatted(top_tables(result))})
        except SHAPE_ERRORS as exc:
            problems.append(f"{path}: not the shape compress analyze writes ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); left out of the report")
    return out, problems


def _formatted(top: dict[str, Any]) -> dict[str, Any]:
    """The tables' rows with their top-1 points as text in the one sign convention (points lost, gains marked)."""
    from toolkit.report.sensitivity_chart import points_lost_text

    out = dict(top)
    for key in ("cut", "keep"):
        out[key] = [{**r, "lost_text": points_lost_text(r["points_lost"])} for r in top[key]]
    out["int8"] = [{**r, "lost_text": points_lost_text(r.get("points_lost_alone")),
                    "recovered_text": points_lost_text(r.get("points_recovered_float")).replace("(gain)", "(lost)")}
                   for r in top["int8"]]
    return out


def _allocations(run: RunView) -> list[dict[str, Any]]:
    out = []
    for stage in run.stages:
        extra = stage.metrics.get("extra") or {}
        for step in extra.get("steps") or []:
            alloc = step.get("allocation") if isinstance(step, dict) else None
            if alloc:
                rows = [{"root": root, "ratio": ratio, "channels": (alloc.get("channels") or {}).get(root)}
                        for root, ratio in sorted(alloc.get("ratios", {}).items(), key=lambda kv: -kv[1])]
                out.append({"label": stage.label, "alloc": alloc, "rows": rows, "target_met": extra.get("target_met"),
                            "top1": stage.top1})
    return out


def sensitivity_section(run: RunView) -> dict[str, Any]:
    """{analyses: [...], allocations: [...], problems: [...]} for templates/sensitivity.html.j2 (empty lists:
    nothing shown); `problems` names each analysis file left out and why (the report lists them as warnings)."""
    analyses, problems = _analyses(run)
    try:
        allocations = _allocations(run)
    except SHAPE_ERRORS as exc:
        allocations = []
        problems.append(f"{run.path}: a prune stage's allocation is not the shape the toolkit writes "
                        f"({type(exc).__name__}: {str(exc)[:200]}); allocations left out of the report")
    return {"analyses": analyses, "allocations": allocations, "problems": problems}
