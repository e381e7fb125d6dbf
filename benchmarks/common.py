"""Shared by the benchmark scripts: result files stamped with date, machine and toolkit version."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from toolkit.measure.device import describe_device
from toolkit.version import __version__

RESULTS = Path(__file__).parent / "results"


def stamp() -> dict[str, Any]:
    """When, where and with what a result was measured."""
    device = describe_device()
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "toolkit_version": __version__,
            "machine": {k: device[k] for k in ("cpu", "isa", "physical_cores", "logical_cpus", "gpu")},
            "versions": device["versions"]}


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of `rows` with the given column order."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, title: str, rows: list[dict[str, Any]], columns: list[str], notes: list[str],
                  out_dir: Path = RESULTS, extra: dict[str, Any] | None = None,
                  header: list[str] | None = None) -> tuple[Path, Path]:
    """Write <name>.json and <name>.md (table plus the stamp and notes; `header` lines go under the stamp)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = stamp()
    data = {"title": title, **meta, "header": header or [], "rows": rows, "notes": notes, **(extra or {})}
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    machine = meta["machine"]
    md = [f"# {title}", "", f"Measured {meta['date']} with toolkit {meta['toolkit_version']} on {machine['cpu']} "
          f"({machine['logical_cpus']} CPUs, ISA: {', '.join(machine['isa'])}; GPU: {machine['gpu'] or 'none'}).",
          f"torch {meta['versions'].get('torch')}, onnxruntime {meta['versions'].get('onnxruntime')}, "
          f"openvino {meta['versions'].get('openvino')}.", *[line for h in header or [] for line in ("", h)], "",
          markdown_table(rows, columns), ""]
    md += [f"- {note}" for note in notes]
    md_path.write_text("\n".join(md) + "\n")
    return json_path, md_path
