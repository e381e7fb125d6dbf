"""The HTML report: self-contained, escaped, honest about skipped stages, comparable across runs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import chromium_or_skip
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.recipe import parse_recipe
from toolkit.report import render, write_report
from toolkit.report.analysis import Point, pareto_front
from toolkit.run.pipeline import run_recipe

EVIL = "<script>alert(1)</script>"


class Links(HTMLParser):
    """Collects every src/href value and every tag name."""

    def __init__(self):
        super().__init__()
        self.values, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.values += [v or "" for k, v in attrs if k in ("src", "href")]


def parsed(html):
    links = Links()
    links.feed(html)
    return links


def fake_run(root: Path, name: str = "fake", with_latency: bool = True) -> Path:
    """A run folder written by hand: one measured stage, one skipped, one whose metrics are missing."""
    run_dir = root / name
    device = {"cpu": "Test CPU", "isa": [], "logical_cpus": 2, "gpu": None, "versions": {"torch": "x"}}

    def lat(p50):
        return [{"runtime": "onnxruntime-cpu", "batch_size": 1, "status": "ok", "p50_ms": p50, "p90_ms": p50 * 1.1,
                 "p99_ms": p50 * 1.2, "throughput_ips": 1000 / p50, "threads": 2, "precision": "fp32"}] \
            if with_latency else []

    stages = [
        ("01-train", {"stage": "train", "index": 1, "status": "ok", "reason": None, "seconds": 3.0,
                      "model": {"format": "torch", "params": 1000, "macs": 20000, "size_bytes": 4000},
                      "accuracy": {"top1": 0.9, "top5": 1.0, "samples": 10}, "latency": lat(2.0),
                      "device": device, "extra": {"history": [{"epoch": 1, "loss": 1.0, "val_top1": 0.9}]}}),
        ("02-engine", {"stage": "engine", "index": 2, "status": "skipped", "reason": f"no TensorRT here {EVIL}",
                       "seconds": 0.1, "extra": {}}),
        ("03-quantize", None),
    ]
    entries = []
    for label, metrics in stages:
        index, stage_name = label.split("-", 1)
        (run_dir / label).mkdir(parents=True)
        if metrics is not None:
            (run_dir / label / "metrics.json").write_text(json.dumps(metrics))
        entries.append({"index": int(index), "name": stage_name, "type": stage_name, "dir": label,
                        "status": "ok" if metrics is None else metrics["status"]})
    (run_dir / "run.json").write_text(json.dumps({"name": name, "status": "complete", "stages": entries,
                                                  "data": {"classes": ["a", "b"]}}))
    (run_dir / "recipe.yaml").write_text(f"name: {name}\ndata: {{options: {{note: '{EVIL}'}}}}\n")
    return run_dir


def test_pareto_frontier_on_hand_made_points():
    pts = [Point("a", "r", 1, 1.0, 0.80, "d"), Point("b", "r", 1, 2.0, 0.90, "d"), Point("c", "r", 1, 3.0, 0.85, "d"),
           Point("d", "r", 1, 4.0, 0.95, "d"), Point("e", "r", 1, 1.5, 0.70, "d"), Point("f", "r", 1, 1.0, 0.75, "d")]
    assert [p.stage for p in pareto_front(pts)] == ["a", "b", "d"]
    assert pareto_front([]) == []


def test_report_is_self_contained_and_escapes_user_strings(tmp_path):
    html, _ = render([fake_run(tmp_path)])
    links = parsed(html)
    assert not [v for v in links.values if v.startswith(("http:", "https:", "//"))]
    assert "script" not in links.tags and "link" not in links.tags
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert any(v.startswith("data:image/svg+xml;base64,") for v in links.values)


def test_skipped_and_missing_stages_render_with_their_reasons(tmp_path):
    html, summary = render([fake_run(tmp_path)])
    stages = {s["label"]: s for s in summary["runs"][0]["stages"]}
    assert stages["02-engine"]["status"] == "skipped" and "no TensorRT here" in stages["02-engine"]["reason"]
    assert stages["03-quantize"]["status"] == "missing" and "metrics.json is missing" in stages["03-quantize"]["reason"]
    assert "no TensorRT here" in html and "metrics.json is missing" in html


def test_two_runs_compare_in_one_page_and_summaries_are_written(tmp_path):
    a, b = fake_run(tmp_path, "alpha"), fake_run(tmp_path, "beta")
    out = write_report([a, b], tmp_path / "reports" / "cmp.html")
    html = out.read_text()
    assert "alpha vs beta" in html and html.count("<h3>alpha") >= 1 and html.count("<h3>beta") >= 1
    summary = json.loads((tmp_path / "reports" / "cmp.summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["alpha", "beta"]
    assert "| 01-train | ok | 90.00% |" in (tmp_path / "reports" / "cmp.summary.md").read_text()


def test_report_cli_rebuilds_a_run_report(tmp_path):
    run_dir = fake_run(tmp_path)
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.html").is_file() and (run_dir / "summary.md").is_file()
    bad = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "not a run folder" in bad.output


@pytest.mark.browser
def test_report_loads_in_a_real_browser_without_errors_or_network(tmp_path):
    browser, sync_playwright = chromium_or_skip()
    report = write_report([fake_run(tmp_path)], tmp_path / "report.html")
    requests, console, errors = [], [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console.append(m) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        assert page.locator("img.chart").count() >= 1
        assert page.locator("table").count() >= 2
        assert all(page.locator("img.chart").nth(i).evaluate("img => img.naturalWidth > 0")
                   for i in range(page.locator("img.chart").count()))
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        b.close()
    assert requests == [report.as_uri()]
    assert not console and not errors
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_zero_accuracy_budget_is_respected_by_the_report(tiny):
    raw = tiny(report={"max_accuracy_drop": 0.0})
    result = run_recipe(parse_recipe(raw))
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert all(r["max_accuracy_drop"] == 0.0 for r in summary["runs"][0]["recommendations"])
    assert summary["runs"][0]["status"] == "complete"
