"""The sweep report, `<sweep folder>/report.html`: one self-contained page (no network) with the recommended trial,
every complete trial on the accuracy-latency chart of each device, runtime and batch size (the Pareto set and the
recommended trial marked, peers from `<sweep folder>/peers.json`), and every trial in a table sortable in the
browser, linked to its run folder's own report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from toolkit.fsutil import atomic_write_text
from toolkit.sweep.report_chart import trials_chart
from toolkit.sweep.report_data import panels, peer_points, trial_points
from toolkit.sweep.recovery import state_word
from toolkit.sweep.spec import SweepPlan

REPORT = "report.html"


def _link(sweep_dir: Path, run_dir: str | None) -> str | None:
    """The trial's report, relative to the sweep folder (the pages move together); None outside it."""
    if not run_dir:
        return None
    target = Path(run_dir) / REPORT
    try:
        return Path(os.path.relpath(target, sweep_dir)).as_posix() if target.resolve().is_relative_to(
            sweep_dir.resolve()) else None
    except (OSError, ValueError):
        return None


def _shown(value: Any, label: str) -> tuple[str, str]:
    """(text, sort key) of an objective value: top-1 in percent, size in bytes, latency in ms."""
    if not isinstance(value, (int, float)):
        return "-", ""
    if label == "top1":
        return f"{value * 100:.2f}%", repr(value)
    return (f"{int(value):,}" if label == "size_bytes" else f"{value:.3f} ms"), repr(value)


def _table_rows(plan: SweepPlan, rows: list[dict[str, Any]], chosen: int | None) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        shown = {label: _shown(r["values"].get(label), label) for label in [o.label for o in plan.objectives]}
        state = state_word(r)
        out.append({**r, "state_text": state, "state_class": state, "recommended": r["number"] == chosen,
                    "shown_values": {k: v[0] for k, v in shown.items()},
                    "sort_values": {k: v[1] for k, v in shown.items()},
                    "run_name": Path(r["run_dir"]).name if r.get("run_dir") else "-",
                    "link": _link(plan.sweep_dir, r.get("run_dir"))})
    return out


def write_sweep_report(plan: SweepPlan, rows: list[dict[str, Any]], chosen: int | None) -> Path:
    """Write `<sweep folder>/report.html` from the trial rows (`results.trial_rows`) and the recommended trial
    number; returns its path. Unreadable trial metrics or peers are left out with a warning on the page."""
    from jinja2 import Environment, PackageLoader

    from toolkit.version import __version__

    warnings: list[str] = []
    points = [p for r in rows for p in trial_points(r, warnings)]
    pareto = {r["number"] for r in rows if r["pareto"]}
    charts = [{"title": f"{device}, {runtime}, batch {batch}",
               "svg": trials_chart(members, pareto, chosen, f"{device}, {runtime}, batch {batch}")}
              for (device, runtime, batch), members in panels(points, peer_points(plan.sweep_dir, warnings)).items()]
    table = _table_rows(plan, rows, chosen)
    env = Environment(loader=PackageLoader("toolkit.sweep", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    html = env.get_template("sweep.html.j2").render(
        name=plan.recipe.name, trials=table, sampler=plan.sampler, budget=plan.budget,
        objectives=[o.label for o in plan.objectives], dimensions=[d.path for d in plan.dimensions],
        recommended=next((t for t in table if t["recommended"]), None), pareto=sorted(pareto),
        max_drop=plan.recipe.report.max_accuracy_drop, warnings=warnings, charts=charts,
        generated=time.strftime("%Y-%m-%d %H:%M %Z"), version=__version__)
    path = plan.sweep_dir / REPORT
    atomic_write_text(path, html)
    return path
