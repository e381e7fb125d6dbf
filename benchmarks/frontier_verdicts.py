"""Reading the frontier benchmark's measurements: dominance per peer, the targets, what limits them, the plot.

Every comparison uses each contender on its own best CPU runtime at that batch size (what a user deploys),
with latencies measured interleaved in one process (benchmarks.frontier_measure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Issue 23's dominance rule: a toolkit point dominates a peer when it is at least as accurate, within 0.1 top-1
# point (10 of 10,000 test images), and at least 10% faster (peer p50 / toolkit p50 >= 1.10).
TOP1_WITHIN, FASTER_BY = 0.001, 1.10
SPEEDUP_TARGET, DROP_TARGET = 2.5, 1.0  # batch 1, against the fp32 baseline (issue 30)
NNCF_SPEEDUP_TARGET, NNCF_DROP_TARGET, NNCF_BATCH = 1.3, 0.5, 32  # batch 32, against NNCF PTQ of the same baseline


def is_toolkit(row: dict[str, Any]) -> bool:
    """A point the toolkit produced (a recipe stage, or its PTQ alone)."""
    return row["contender"].startswith("toolkit")


def dominance(rows: list[dict[str, Any]], batch_sizes) -> dict[str, dict[int, dict[str, Any]]]:
    """For every peer and batch size: the toolkit point that dominates it (fastest such), or why none does."""
    toolkit = [r for r in rows if is_toolkit(r) and r.get("top1") is not None]
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for peer in rows:
        if is_toolkit(peer) or peer is rows[0] or peer.get("top1") is None:
            continue
        out[peer["contender"]] = {}
        for bs in batch_sizes:
            key = f"best_b{bs}_ms"
            if not peer.get(key):
                continue
            accurate = [t for t in toolkit if t.get(key) and t["top1"] >= peer["top1"] - TOP1_WITHIN]
            fast = [t for t in accurate if peer[key] / t[key] >= FASTER_BY]
            verdict: dict[str, Any] = {"dominated": bool(fast), "peer_ms": peer[key], "peer_top1": peer["top1"]}
            best = max(fast or accurate, key=lambda t: peer[key] / t[key], default=None)
            if best is not None:
                verdict.update(by=best["contender"], toolkit_ms=best[key], toolkit_top1=best["top1"],
                               faster=round(peer[key] / best[key], 3))
            out[peer["contender"]][bs] = verdict
    return out


def dominance_notes(verdicts: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """One line per peer and batch size: yes/no, with the measured numbers behind it."""
    lines = []
    for peer, by_batch in verdicts.items():
        for bs, v in by_batch.items():
            head = f"Dominance, {peer}, batch {bs}: {'YES' if v['dominated'] else 'NO'}"
            peer_txt = f"peer {v['peer_ms']:.4g} ms at {v['peer_top1'] * 100:.2f}%"
            if "by" not in v:
                lines.append(f"{head} (no toolkit point within 0.1 point of its top-1; {peer_txt}).")
                continue
            got = (f"{v['by']} {v['toolkit_ms']:.4g} ms at {v['toolkit_top1'] * 100:.2f}%, {v['faster']:.2f}x "
                   f"faster vs {peer_txt}")
            need = "" if v["dominated"] else f"; the fastest toolkit point within 0.1 point is < {FASTER_BY}x faster"
            lines.append(f"{head} ({got}{need}).")
    return lines


def cost_fits(rows: list[dict[str, Any]], probes: list[dict[str, Any]], runtimes: dict[str, str],
              batch_sizes) -> dict[str, dict[str, float]]:
    """Least squares latency = fixed + slope * GMACs over the fp32 baseline and the uniform probes."""
    points = [rows[0], *probes]
    fits = {}
    for short, runtime in runtimes.items():
        for bs in batch_sizes:
            have = [p for p in points if p.get(f"{short}_b{bs}_p50")]
            if len(have) < 2:
                continue
            gmacs = np.array([p["macs"] * bs for p in have], dtype=float) / 1e9  # per call: the whole batch
            ms = np.array([p[f"{short}_b{bs}_p50"] for p in have])
            slope, fixed = np.polyfit(gmacs, ms, 1)
            share = max(fixed, 0.0) / rows[0][f"{short}_b{bs}_p50"]
            fits[f"{short}_b{bs}"] = {"runtime": runtime, "batch_size": bs, "fixed_ms": round(float(fixed), 4),
                                      "ms_per_gmac": round(float(slope), 3), "fixed_share": round(float(share), 3),
                                      "points": len(have)}
    return fits


def fit_notes(fits: dict[str, dict[str, float]]) -> list[str]:
    """The fits in words: how much of the baseline's latency pruning cannot remove."""
    lines = []
    for fit in fits.values():
        if fit["ms_per_gmac"] <= 0 or fit["fixed_share"] >= 1:
            lines.append(f"Fixed cost, {fit['runtime']} batch {fit['batch_size']}: no meaningful fit (latency did not "
                         f"fall with MACs across the baseline and the pruned copies: noise or overhead-bound).")
            continue
        cap = f"caps pruning near {1 / fit['fixed_share']:.1f}x" if fit["fixed_share"] > 0.02 else "is negligible"
        lines.append(f"Fixed cost, {fit['runtime']} batch {fit['batch_size']}: latency ~ {fit['fixed_ms']:.3g} ms + "
                     f"{fit['ms_per_gmac']:.3g} ms per GMAC of the call (least squares over the baseline and "
                     f"{fit['points'] - 1} "
                     f"uniformly pruned copies): {fit['fixed_share']:.0%} of the baseline's latency does not shrink "
                     f"with MACs, which {cap}.")
    return lines


def target_notes(rows: list[dict[str, Any]], epochs: dict[str, Any], train_images: int,
                 fits: dict[str, dict[str, float]], batch_sizes=(1,)) -> tuple[list[str], dict[str, Any]]:
    """The speed and accuracy targets of the recipe's final model: met or missed, and what limits them."""
    by_name = {r["contender"]: r for r in rows}
    base = rows[0]
    stages = {r["contender"].split(": ", 1)[1].split("-", 1)[-1]: r for r in rows if is_toolkit(r)
              and "PTQ only" not in r["contender"]}
    final, pruned, distilled = stages.get("quantize"), stages.get("prune"), stages.get("distill")
    ptq = by_name.get("toolkit: PTQ only (quantize the baseline)")
    if final is None or not final.get("best_b1_ms"):
        return ["The recipe's final model was not measured."], {}
    speed, drop = final["speedup_b1"], (base["top1"] - final["top1"]) * 100
    met = {"speedup_b1": speed >= SPEEDUP_TARGET, "top1_drop": drop <= DROP_TARGET}
    lines = [f"Target, the recipe's final model: >= {SPEEDUP_TARGET}x lower batch-1 p50 than fp32 on the best CPU "
             f"runtime: {speed:.2f}x ({final['best_b1_runtime']} {final['best_b1_ms']:.4g} ms vs baseline "
             f"{base['best_b1_runtime']} {base['best_b1_ms']:.4g} ms): {'MET' if met['speedup_b1'] else 'MISSED'}; "
             f"<= {DROP_TARGET} point lower top-1: {-drop:+.2f} points: {'MET' if met['top1_drop'] else 'MISSED'}."]
    if not met["speedup_b1"] and distilled and ptq:
        fit = fits.get(f"{'ov' if final['best_b1_runtime'] == 'openvino-cpu' else 'ort'}_b1", {})
        lines.append(f"What limits the speed (measured): pruning gave {distilled['speedup_b1']:.2f}x at batch 1 "
                     f"({base['macs'] / distilled['macs']:.2f}x fewer MACs); INT8 alone on the baseline gives "
                     f"{ptq['speedup_b1']:.2f}x; the two together {speed:.2f}x"
                     + (f"; {fit['fixed_share']:.0%} of the baseline's batch-1 latency is fixed per-call cost"
                        if fit else "") + ".")
    if not met["top1_drop"] and pruned and distilled:
        lines.append(f"What limits the accuracy (measured): top-1 {pruned['top1'] * 100:.2f}% right after pruning, "
                     f"{distilled['top1'] * 100:.2f}% after {epochs['distill']} distillation epoch(s) on "
                     f"{train_images} images, {final['top1'] * 100:.2f}% after INT8, against the baseline's "
                     f"{base['top1'] * 100:.2f}% ({epochs['train']}): the recovery budget, and "
                     f"INT8 {(final['top1'] - distilled['top1']) * 100:+.2f} points.")
    record = {"speedup_b1": speed, "top1_drop_points": round(drop, 3), "met": met}
    nncf = by_name.get("NNCF PTQ")
    key = f"best_b{NNCF_BATCH}_ms"
    if NNCF_BATCH in batch_sizes and nncf and nncf.get(key) and final.get(key):
        lines.append(_nncf_line(final, nncf, record))
    return lines, record


def _nncf_line(final: dict[str, Any], nncf: dict[str, Any], record: dict[str, Any]) -> str:
    """The batch-32 target against one call of NNCF PTQ on the same baseline; fills `record` in."""
    bs = NNCF_BATCH
    speed, drop = nncf[f"best_b{bs}_ms"] / final[f"best_b{bs}_ms"], (nncf["top1"] - final["top1"]) * 100
    record[f"speedup_vs_nncf_b{bs}"], record["top1_drop_vs_nncf_points"] = round(speed, 3), round(drop, 3)
    record["met"].update(vs_nncf_speed=speed >= NNCF_SPEEDUP_TARGET, vs_nncf_top1=drop <= NNCF_DROP_TARGET)
    return (f"Target, against NNCF PTQ of the same baseline: >= {NNCF_SPEEDUP_TARGET}x lower batch-{bs} p50 on the "
            f"best CPU runtime: {speed:.2f}x ({final[f'best_b{bs}_runtime']} {final[f'best_b{bs}_ms']:.4g} ms vs "
            f"{nncf[f'best_b{bs}_runtime']} {nncf[f'best_b{bs}_ms']:.4g} ms): "
            f"{'MET' if speed >= NNCF_SPEEDUP_TARGET else 'MISSED'}; <= {NNCF_DROP_TARGET} point lower top-1 than "
            f"NNCF's: {-drop:+.2f} points: {'MET' if drop <= NNCF_DROP_TARGET else 'MISSED'}.")


def frontier_plot(rows: list[dict[str, Any]], path: Path, title: str, batch_sizes) -> None:
    """Top-1 against p50 latency on each contender's best CPU runtime, one panel per batch size."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5 * len(batch_sizes), 4.8), layout="constrained")
    axes = fig.subplots(1, len(batch_sizes), squeeze=False)[0]
    for ax, bs in zip(axes, batch_sizes):
        key = f"best_b{bs}_ms"
        shown = [r for r in rows if r.get(key) and r.get("top1") is not None]
        for i, row in enumerate(shown):
            mine = is_toolkit(row) or row is rows[0]
            ax.scatter(row[key], row["top1"] * 100, marker="o" if mine else "s", s=40,
                       color="C0" if mine else f"C{1 + i % 8}", zorder=3)
            ax.annotate(row["contender"], (row[key], row["top1"] * 100), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        front, best = [], -1.0
        for row in sorted((r for r in shown if is_toolkit(r) or r is rows[0]), key=lambda r: (r[key], -r["top1"])):
            if row["top1"] > best:  # the toolkit's Pareto front: each point more accurate than every faster one
                front.append(row)
                best = row["top1"]
        ax.step([r[key] for r in front], [r["top1"] * 100 for r in front], where="post", linestyle="--", color="C0")
        ax.set(xlabel=f"batch-{bs} p50 latency on the best CPU runtime (ms)", ylabel="top-1 (%)",
               title=f"{title}, batch {bs}")
        ax.grid(True, alpha=0.3)
    fig.savefig(path, format="svg", metadata={"Date": None})


PEER_PREFIXES = ("Torch-Pruning", "ONNX Runtime PTQ", "NNCF PTQ")


def report_with_peers(run, rows: list[dict[str, Any]], sizes, runtimes: dict[str, str]) -> list[str]:
    """Write the peers into the toolkit run's peers.json, rebuild its report, and return the report's
    recommendations (summary.json) as notes: what a user of the run folder is told, peers included."""
    import json

    from toolkit.measure.device import describe_device
    from toolkit.report import write_report
    from toolkit.report.peers import write_peers

    peers = []
    for row in rows:
        if not row["contender"].startswith(PEER_PREFIXES) or row.get("top1") is None:
            continue
        latency = [{"runtime": runtime, "batch_size": bs, "p50_ms": row[f"{short}_b{bs}_p50"],
                    "ci_low_ms": (row.get(f"{short}_b{bs}_p50_range") or [None])[0],
                    "ci_high_ms": (row.get(f"{short}_b{bs}_p50_range") or [None, None])[1]}
                   for short, runtime in runtimes.items() for bs in sizes if row.get(f"{short}_b{bs}_p50")]
        peers.append({"name": row["contender"], "top1": row["top1"], "device": describe_device(),
                      "source": "benchmarks/frontier.py (p50 and the range over its interleaved rounds)",
                      "latency": latency})
    write_peers(run.run_dir, peers)
    write_report([run.run_dir], run.run_dir / "report.html")
    summary = json.loads((run.run_dir / "summary.json").read_text())
    return [f"The run's report (peers.json added) recommends at batch {r['batch_size']}: {r['stage']} on "
            f"{r['runtime']} ({r['top1'] * 100:.2f}% top-1, {r['latency_ms']:.3f} ms): {r['why']}."
            for r in summary["runs"][0]["recommendations"]]
