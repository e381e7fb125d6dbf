"""The sweep's HTML report from a study and its trials' run folders (written here, nothing trained): every complete
trial on the chart of each device, runtime and batch, the Pareto set and the recommended trial marked, failed
trials listed with their reason, peers drawn, hostile metrics left out with a warning; sortable in a real browser."""

from __future__ import annotations

import json

import pytest
from browser import chromium_or_skip
from test_sweep_inputs import GOOD, sweep_recipe

DEVICE = {"cpu": "Test CPU", "isa": ["avx2"], "logical_cpus": 2}


def _metrics(top1: float, p50s: dict[tuple[str, int], float]) -> dict:
    return {"accuracy": {"top1": top1}, "device": DEVICE,
            "latency": [{"runtime": r, "batch_size": b, "status": "ok", "p50_ms": v} for (r, b), v in p50s.items()]}


def _sweep(tiny, tmp_path):
    """A plan and a journal study holding 5 trials: 3 complete, 1 failed, 1 whose metrics were edited into NaN."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    from toolkit.sweep.spec import load_sweep
    from toolkit.sweep.storage import open_storage, open_study

    plan = load_sweep(sweep_recipe(tiny, tmp_path, GOOD))
    study = open_study(plan, open_storage(None, plan.sweep_dir))
    dist = {"stages.1.prune.target.ratio": CategoricalDistribution([0.1, 0.25])}
    made = [(0.91, 2.0), (0.90, 1.0), (0.80, 1.5), None, (0.85, 0.5)]
    for number, point in enumerate(made):
        run_dir = plan.sweep_dir / "runs" / f"trial-{number:04d}"
        attrs = {"run_dir": str(run_dir), "final_stage": "02-prune", "seconds": 3.0 + number}
        params = {"stages.1.prune.target.ratio": 0.1 if number % 2 else 0.25}
        if point is None:
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params=params,
                                                      distributions=dist,
                                                      user_attrs={**attrs, "reason": "stage 02-prune degraded"}))
            continue
        top1, p50 = point
        (run_dir / "02-prune").mkdir(parents=True)
        (run_dir / "report.html").write_text("<html>trial</html>")
        metrics = _metrics(top1, {("onnxruntime-cpu", 1): p50, ("onnxruntime-cpu", 8): p50 * 4,
                                  ("openvino-cpu", 1): p50 * 0.8})
        if number == 4:  # edited after the run: its numbers must not be drawn
            metrics["accuracy"]["top1"] = float("nan")
        (run_dir / "02-prune" / "metrics.json").write_text(json.dumps(metrics))
        study.add_trial(optuna.trial.create_trial(values=[top1, p50], params=params, distributions=dist,
                                                  user_attrs=attrs))
    (plan.sweep_dir / "peers.json").write_text(json.dumps({"format_version": 1, "peers": [
        {"name": "NNCF PTQ $\\x", "top1": 0.905, "latency": [{"runtime": "onnxruntime-cpu", "batch_size": 1,
                                                              "p50_ms": 1.2}]}]}))
    return plan, study


def test_the_sweep_report_draws_every_panel_and_marks_the_pareto_set(tiny, tmp_path):
    from toolkit.sweep.results import write_summary

    plan, study = _sweep(tiny, tmp_path)
    _, _, report = write_summary(plan, study)
    html = report.read_text()
    summary = json.loads((plan.sweep_dir / "summary.json").read_text())
    assert sorted(summary["pareto"]) == [0, 1, 4]  # by the study's values
    assert summary["recommended"] == 1  # the fastest within 1 point of the best (0.91)
    assert html.count('<img class="chart"') == 3  # onnxruntime-cpu b1, b8, openvino-cpu b1 on one device
    assert "test-cpu, onnxruntime-cpu, batch 8" in html
    assert "<b>Trial 1</b>" in html and "stage 02-prune degraded" in html
    assert "trial 4:" in html and "top-1 between 0 and 1" in html  # the NaN file is named, not drawn
    assert 'href="runs/trial-0001/report.html"' in html
    assert "<script" in html and "http://" not in html and "https://" not in html  # self-contained


@pytest.mark.browser
def test_the_sweep_report_sorts_its_table_in_a_real_browser(tiny, tmp_path):
    from toolkit.sweep.results import write_summary

    browser, sync_playwright = chromium_or_skip()
    plan, study = _sweep(tiny, tmp_path)
    _, _, report = write_summary(plan, study)
    requests, errors = [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu",
                                                             "--disable-background-networking", "--no-first-run"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        assert page.locator("img.chart").count() == 3
        assert all(page.locator("img.chart").nth(i).evaluate("img => img.naturalWidth > 0") for i in range(3))
        first_cells = "rows => rows.map(r => r.children[0].textContent.trim())"
        header = page.locator("#trial-table th", has_text="p50")
        header.click()
        ascending = page.locator("#trial-table tbody tr").evaluate_all(first_cells)
        header.click()
        descending = page.locator("#trial-table tbody tr").evaluate_all(first_cells)
        b.close()
    assert ascending[:3] == ["4", "1", "2"] and descending[:3] == ["0", "2", "1"], (ascending, descending)
    assert ascending[-1] == descending[-1] == "3"  # the failed trial has no value: last either way
    assert requests == [report.as_uri()] and not errors
