"""The HTML report: built from run folders' JSON files alone, one self-contained file."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from toolkit.config import size_text
from toolkit.formatting import markdown_text
from toolkit.fsutil import atomic_write_json, atomic_write_text
from toolkit.report.build import device_charts, run_section
from toolkit.report.collect import read_run
from toolkit.report.readability import best_side_by_side, readable_facts
from toolkit.version import __version__


def _budget(run_dir: Path) -> float:
    """The recipe's report.max_accuracy_drop (default 1.0 point)."""
    import yaml

    from toolkit.recipe.yaml_limits import load_bounded

    try:
        recipe = load_bounded((run_dir / "recipe.yaml").read_text(encoding="utf-8")) or {}
        value = (recipe.get("report") or {}).get("max_accuracy_drop")
        value = 1.0 if value is None else float(value)
        return value if 0.0 <= value <= 100.0 else 1.0
    except (OSError, yaml.YAMLError, TypeError, ValueError, AttributeError, RecursionError):  # alias bombs too
        return 1.0


def _is_number(value: Any) -> bool:
    """A finite int or float the filters can format (an int past float's range or a NaN cannot)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _input_text(data: Any) -> str:
    """'24x40' (height x width) from run.json's data section, with ', 1 channel (grayscale)' for one channel."""
    data = data if isinstance(data, dict) else {}
    return size_text(data.get("image_size")) + (", 1 channel (grayscale)" if data.get("channels") == 1 else "")


def render(run_dirs: list[Path]) -> tuple[str, dict[str, Any]]:
    """The report's HTML and the summary data, for one or several run folders."""
    from jinja2 import Environment, PackageLoader

    runs = [read_run(Path(d)) for d in run_dirs]
    sections = [run_section(run, _budget(run.path)) for run in runs]
    for run, section in zip(runs, sections):  # the summary's plain words: why the baseline stays, images
        section.update(readable_facts(run, section["recommendations"]))
    env = Environment(loader=PackageLoader("toolkit.report", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    # a value of the wrong type (an edited file) is shown as missing, like None
    env.filters["pct"] = lambda v: f"{v * 100:.2f}" if _is_number(v) else "-"
    env.filters["ms"] = lambda v: f"{v:.3f}" if _is_number(v) else "-"
    env.filters["num"] = lambda v, d=2: f"{v:.{d}f}" if _is_number(v) else "-"
    env.filters["thousands"] = lambda v: f"{v:,}" if _is_number(v) else "-"
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)
    env.filters["input_size"] = _input_text
    title = " vs ".join(s["name"] for s in sections)
    html = env.get_template("report.html.j2").render(
        title=title, runs=sections, charts=device_charts(runs), generated=time.strftime("%Y-%m-%d %H:%M %Z"),
        version=__version__, side_by_side=best_side_by_side(sections) if len(sections) > 1 else [])
    summary = {"title": title, "toolkit_version": __version__,
               "runs": [{"name": s["name"], "path": s["path"], "status": s["status"],
                         "warnings": s["warnings"], "recommendations": s["recommendations"],
                         "stages": [{k: r[k] for k in ("label", "status", "reason", "top1", "top5", "params",
                                                       "macs", "size", "seconds")} for r in s["stages"]]}
                        for s in sections]}
    return html, summary


def summary_markdown(summary: dict[str, Any]) -> str:
    """A short Markdown summary for CI logs and pull requests; every string from the runs is escaped
    (toolkit.formatting.markdown_text), so names cannot inject markup."""
    summary = _escaped(summary)
    lines = [f"# {summary['title']}", ""]
    for run in summary["runs"]:
        lines += [f"## {run['name']} ({run['status']})", "", *[f"**Warning:** {w}" for w in run.get("warnings") or []],
                  *([""] if run.get("warnings") else []),
                  "| stage | status | top-1 | params | MACs | size |",
                  "|---|---|---|---|---|---|"]
        for r in run["stages"]:
            top1 = "-" if r["top1"] is None else f"{r['top1'] * 100:.2f}%"
            status = r["status"] + (f" ({r['reason']})" if r["reason"] else "")
            lines.append(f"| {r['label']} | {status} | {top1} | {r['params']} | {r['macs']} | {r['size']} |")
        lines.append("")
        for rec in run["recommendations"]:
            same = f", {rec['speedup_same_runtime']}x vs the baseline on {rec['runtime']}" \
                if rec["speedup_same_runtime"] else ""
            if rec.get("baseline") == rec["stage"]:
                same = " (the baseline itself)"
            elif rec["speedup_same_runtime"] and rec.get("speedup_same_runtime_significant") is False:
                same = f", no measurable difference from the baseline on {rec['runtime']} (within noise)"
            lines.append(f"- {rec['device']}, batch {rec['batch_size']}: **{rec['stage']}** on {rec['runtime']} "
                         f"({rec['latency_ms']:.3f} ms{same}; top-1 {rec['top1_change_points']:+.2f} points"
                         + ("" if rec["within_budget"] else "; nothing met the accuracy budget") + ")"
                         + f". {rec['explanation']}"
                         + (f" {rec['why']}." if rec.get("peer") or rec.get("peers_compared") else ""))
        lines.append("")
    return "\n".join(lines)


def _escaped(value: Any) -> Any:
    """`value` with every string (at any depth) made inert Markdown."""
    if isinstance(value, str):
        return markdown_text(value)
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Write the HTML report plus summary.json and summary.md beside it; returns the HTML path.

    Raises UserInputError for a folder that is not a readable run, ToolkitError when the files cannot be written.
    """
    try:
        html, summary = render([Path(d) for d in run_dirs])
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError) as exc:
        # the typed readers (toolkit.records) check what the report reads; this names the folder if an edited
        # file still slips through
        from toolkit.errors import UserInputError

        raise UserInputError(f"cannot build the report of {', '.join(map(str, run_dirs))}: a JSON file there "
                             f"does not have the shape the toolkit writes ({type(exc).__name__}: {exc})") from None
    out = Path(out)
    atomic_write_text(out, html)
    stem = "summary" if out.name == "report.html" else f"{out.stem}.summary"
    atomic_write_json(out.with_name(f"{stem}.json"), summary)  # strict JSON: no NaN or Infinity tokens
    atomic_write_text(out.with_name(f"{stem}.md"), summary_markdown(summary) + "\n")
    return out


__all__ = ["render", "summary_markdown", "write_report"]
