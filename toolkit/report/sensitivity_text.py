"""Plain-text summary of an analysis result (for the terminal)."""

from __future__ import annotations

from typing import Any

from toolkit.report.sensitivity_chart import points_lost_text, top_tables


def summary_lines(result: dict[str, Any], n: int = 10) -> list[str]:
    """Baseline, the cheapest cuts, the groups to keep whole and the INT8-sensitive layers, n of each."""
    tables = top_tables(result, n)
    runtime = result.get("runtime") or {}
    base = result.get("baseline") or {}
    lines = [f"baseline top-1 {base.get('top1', 0) * 100:.2f}% on {result['data']['samples']} validation images; "
             f"{runtime.get('name')} batch {runtime.get('batch_size')}: {runtime.get('base_ms')} ms; "
             f"analysis {result['seconds'].get('total')} s"]
    lines.append("cheapest to cut (ratio 0.5; fewest top-1 points lost per ms saved):")
    lines += [f"  {r['root']:<28} {points_lost_text(r['points_lost']):>12} pts lost  {r['latency_saved_ms']:.4f} ms "
              f"saved ({r['latency_share'] * 100:.1f}%)  MACs -{r['macs_share'] * 100:.1f}%" for r in tables["cut"]]
    if tables["cut_dropped"]:
        lines.append(f"  ({tables['cut_dropped']} group(s) left out: zero or negative measured latency saving)")
    lines.append("keep whole (most top-1 points lost at ratio 0.5):")
    lines += [f"  {r['root']:<28} {points_lost_text(r['points_lost']):>12} pts lost" for r in tables["keep"]]
    if result.get("int8"):
        q = result["int8"]
        lines.append(f"INT8 ({q['settings']['scheme']}): fp32 {q['fp32_top1'] * 100:.2f}%, all int8 "
                     f"{q['int8_top1'] * 100:.2f}%; most sensitive layers (top-1 points lost with it alone in "
                     f"int8 / points recovered with it alone in float):")
        lines += [f"  {r['node']:<28} {points_lost_text(r['points_lost_alone']):>12} / "
                  f"{points_lost_text(r['points_recovered_float']).replace('(gain)', '(lost)')} pts"
                  for r in tables["int8"]]
    return lines
