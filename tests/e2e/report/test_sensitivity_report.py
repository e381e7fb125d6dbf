"""The report's sensitivity section: chart and tables from the analysis JSON, checked in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from browser import chromium_or_skip

from toolkit.report import render, write_report

EVIL = "<script>alert(1)</script>"


def analysis_result() -> dict:
    """A finished analysis as `compress analyze` writes it (three groups, two int8 layers)."""
    rows = []
    for root, cost, loss in (("conv1", 0.05, 0.5), ("layer1.0.conv1", 0.02, 6.0), (f"odd{EVIL}", 0.01, 0.1)):
        for ratio in (0.25, 0.5, 0.75):
            rows.append({"root": root, "ratio": ratio, "channels": 16, "channels_after": int(16 * (1 - ratio)),
                         "members": 3, "top1": 0.9 - loss * ratio / 100, "points_lost": loss * ratio,
                         "macs_saved": 1000, "params_saved": 10, "macs_share": 0.1 * ratio,
                         "latency_saved_ms": cost * ratio, "latency_share": cost * ratio / 0.5,
                         "latency_spread_ms": 0.003, "points_per_ms": loss / cost})
    layers = [{"node": "/conv1/Conv", "op": "Conv", "only_int8_top1": 0.85, "only_float_top1": 0.9,
               "points_lost_alone": 5.0, "points_recovered_float": 2.0},
              {"node": "/fc/Gemm", "op": "Gemm", "only_int8_top1": 0.9, "only_float_top1": 0.88,
               "points_lost_alone": 0.0, "points_recovered_float": 0.0}]
    return {"format": 1, "complete": True, "key": "k", "prune_key": "p", "command": f"compress analyze {EVIL}",
            "model": {"point": "01-train", "arch": "resnet20"}, "ratios": [0.25, 0.5, 0.75],
            "data": {"samples": 100, "selection": "the first 100 images"},
            "runtime": {"name": "onnxruntime-cpu", "batch_size": 1, "base_ms": 0.5, "rounds": 5},
            "baseline": {"top1": 0.9, "macs": 10000, "params": 100}, "pruning": rows,
            "int8": {"settings": {"scheme": "cpu"}, "fp32_top1": 0.9, "int8_top1": 0.87, "layers": layers},
            "seconds": {"pruning": 10.0, "int8": 5.0, "total": 15.0}, "load_average": [1.0, 1.0, 1.0]}


def run_with_analysis(root: Path) -> Path:
    """A run folder with a trained stage, a sensitivity-allocated prune stage and an analysis."""
    run_dir = root / "sens"
    device = {"cpu": "Test CPU", "isa": [], "logical_cpus": 2, "gpu": None, "versions": {}}
    allocation = {"method": "greedy (NetAdapt)", "cost": "latency_saved_ms", "ratios": {"conv1": 0.5, "odd": 0.25},
                  "channels": {"conv1": [16, 8], "odd": [16, 12]}, "predicted_points_lost": 0.3,
                  "runtime": "onnxruntime-cpu", "batch_size": 1, "base_latency_ms": 0.5,
                  "predicted_latency_ms": 0.47, "achieved_latency_ms": 0.46, "analysis": {"reused": True,
                                                                                         "seconds": 15.0}}
    stages = {"01-train": {"stage": "train", "extra": {}},
              "02-prune": {"stage": "prune", "extra": {"method": "l2", "macs_before": 10, "macs_after": 8,
                                                      "params_before": 10, "params_after": 8, "macs_speedup": 1.25,
                                                      "params_removed": 0.2, "target_met": True,
                                                      "channels": {"conv1": [16, 8]},
                                                      "steps": [{"step": 1, "allocation": allocation}]}}}
    entries = []
    for label, metrics in stages.items():
        (run_dir / label).mkdir(parents=True)
        metrics.update(index=int(label[:2]), status="ok", seconds=1.0, device=device,
                       model={"format": "torch", "params": 10, "macs": 10, "size_bytes": 40},
                       accuracy={"top1": 0.9, "top5": 1.0}, latency=[
                           {"runtime": "onnxruntime-cpu", "batch_size": 1, "status": "ok", "p50_ms": 0.5,
                            "p90_ms": 0.6, "p99_ms": 0.7, "throughput_ips": 2000, "threads": 2, "precision": "fp32"}])
        (run_dir / label / "metrics.json").write_text(json.dumps(metrics))
        entries.append({"index": int(label[:2]), "name": label[3:], "type": label[3:], "dir": label, "status": "ok"})
    (run_dir / "run.json").write_text(json.dumps({"name": "sens", "status": "complete", "stages": entries}))
    (run_dir / "recipe.yaml").write_text("name: sens\n")
    (run_dir / "analysis").mkdir()
    (run_dir / "analysis" / "sensitivity-01-train.json").write_text(json.dumps(analysis_result()))
    return run_dir


def test_sensitivity_section_shows_chart_tables_and_allocation_escaped(tmp_path):
    html, _ = render([run_with_analysis(tmp_path)])
    section = html[html.index('id="sensitivity"'):html.index('id="training"')]
    assert section.count("<img") == 1 and section.count("<table") == 4
    assert "layer1.0.conv1" in section.split("keep whole")[1].split("</table>")[0]  # most top-1 lost first
    assert "achieved 0.460 ms" in section and "allocation: sensitivity" in section
    assert EVIL not in html and "&lt;script&gt;" in section


def test_report_without_analysis_says_how_to_get_one(tmp_path):
    run_dir = run_with_analysis(tmp_path)
    shutil.rmtree(run_dir / "analysis")
    (run_dir / "02-prune" / "metrics.json").write_text(json.dumps({"stage": "prune", "status": "ok", "extra": {}}))
    html, _ = render([run_dir])
    assert "run <code>compress analyze RECIPE</code>" in html


@pytest.mark.browser
def test_sensitivity_chart_renders_in_a_real_browser(tmp_path):
    browser, sync_playwright = chromium_or_skip()
    report = write_report([run_with_analysis(tmp_path)], tmp_path / "report.html")
    requests, errors = [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu",
                                                             "--disable-background-networking", "--no-first-run"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        chart = page.locator("#sensitivity ~ img.chart").first
        chart.scroll_into_view_if_needed()
        assert chart.evaluate("img => img.complete && img.naturalWidth > 400 && img.naturalHeight > 200")
        assert page.locator("#sensitivity ~ table").count() >= 4
        chart.screenshot(path=str(tmp_path / "chart.png"))
        b.close()
    assert requests == [report.as_uri()] and not errors
    assert (tmp_path / "chart.png").stat().st_size > 10_000
