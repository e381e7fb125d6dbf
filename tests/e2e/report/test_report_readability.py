"""The report says what it means: why the baseline stays, images behind a change, readable charts."""

from __future__ import annotations

import base64

import pytest
from browser import chromium_or_skip
from matplotlib.figure import Figure
from report_runs import SAMPLES, quickstart_like_run

from toolkit.report import render, write_report
from toolkit.report.analysis import Point
from toolkit.report.plots import accuracy_vs_latency, macs_vs_latency, training_curves
from toolkit.report.explain import explain
from toolkit.report.readability import accuracy_limits, draw_frontier, images_of, loss_kinds, place_labels


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One rendering of two runs: alpha (a compressed model wins), beta (the baseline dominates)."""
    root = tmp_path_factory.mktemp("runs")
    a, b = quickstart_like_run(root, "alpha"), quickstart_like_run(root, "beta", baseline_wins=True)
    return a, b, render([a, b])[0]


def test_the_summary_says_plainly_why_the_baseline_is_recommended(compared):
    assert ("The baseline, 01-train on openvino-cpu, stays: no model within the 1-point budget ran faster than "
            "the baseline on its own runtime beyond noise") in compared[2]


def test_the_baseline_reason_names_the_faster_model_that_lost_too_much():
    base, quant = Point("01-train", "ort", 1, 1.0, 0.90, "d"), Point("02-quantize", "ort", 1, 0.5, 0.85, "d")
    why = explain(base, [base, quant], [base], [base], True, 0.89, 1.0, [])
    assert why.startswith("The baseline, 01-train on ort, stays: no model within the 1-point budget")
    assert "faster than the baseline beyond noise but over the budget: 02-quantize on ort (-5.00 points)" in why


def test_accuracy_changes_show_how_many_validation_images_they_are(compared):
    html = compared[2]
    assert "-0.55" in html and "(2 of 360 validation images)" in html  # 98.61% -> 98.06%
    assert f"Top-1 on {SAMPLES} validation images: one image is 0.28 point(s)." in html
    assert images_of(-0.556, 360) == "2 of 360 validation images" and images_of(1.0, None) == ""


def test_the_accuracy_axis_is_not_stretched_over_a_tiny_range():
    low, high = accuracy_limits([98.06, 98.61])
    assert high - low >= 2.0 and low < 98.06 and high > 98.61
    low, high = accuracy_limits([99.9, 100.0])
    assert high <= 101 and high - low >= 2.0
    low, high = accuracy_limits([40.0, 90.0])
    assert low < 40.0 and high > 90.0 and high - low < 70


def _boxes(fig, ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    return [t.get_window_extent(renderer) for t in ax.texts]


def test_point_labels_do_not_collide_and_a_repeated_label_is_written_once():
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    crowd = [(0.050, 98.33, "distill", "C0"), (0.0505, 98.33, "quantize", "C0"), (0.051, 98.33, "train", "C1"),
             (0.050, 98.45, "prune", "C1"), (0.0502, 98.32, "input", "C0"), (0.050, 98.33, "distill", "C1")]
    ax.scatter([c[0] for c in crowd], [c[1] for c in crowd])
    ax.set_xscale("log")
    ax.set_ylim(97, 99.5)
    place_labels(ax, crowd, obstacles=[(x, y, 4.0) for x, y, _, _ in crowd])
    assert sorted(t.get_text() for t in ax.texts) == ["distill", "input", "prune", "quantize", "train"]
    boxes = _boxes(fig, ax)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def _drawn(monkeypatch, chart, *args):
    """Draw `chart` and hand back its figure (captured as it is saved), laid out as in the report."""
    from toolkit.report import plots

    figures = []
    real_uri = plots.svg_data_uri
    monkeypatch.setattr(plots, "svg_data_uri", lambda fig: figures.append(fig) or real_uri(fig))
    chart(*args)
    return figures[0]


def test_macs_chart_merges_labels_of_coinciding_points_and_keeps_labels_apart(monkeypatch):
    # prune and distill left the same graph: same MACs and (nearly) the same latency; drawn one on top of
    # the other they used to print as "pirstill"
    rows = [{"runtime": rt, "stage": stage, "macs": macs, "latency_ms": ms * scale}
            for rt, scale in (("onnxruntime-cpu", 1.0), ("openvino-cpu", 0.8))
            for stage, macs, ms in (("01-train", 4.6e6, 0.054), ("02-prune", 2.3e6, 0.031),
                                    ("03-distill", 2.3e6, 0.0311), ("04-quantize", 2.3e6, 0.045))]
    fig = _drawn(monkeypatch, macs_vs_latency, rows, "test-cpu", 1)
    ax = fig.axes[0]
    assert ax.get_title() == "test-cpu, batch 1"  # a latency chart names its device and batch size
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts.count("prune = distill") == 2 and "prune" not in texts and "distill" not in texts, texts
    assert texts.count("train") == 2 and texts.count("quantize") == 2
    boxes = _boxes(fig, ax)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def test_an_unstable_timing_is_drawn_hollow_and_labelled_not_as_a_clean_point(monkeypatch):
    # the case: one 145 ms outlier (0.3 ms when re-measured) drawn unmarked as a 650x speedup
    rows = [{"runtime": "torch-cpu", "stage": "01-train", "macs": 4.6e6, "latency_ms": 145.0, "unstable": True,
             "ci_low_ms": 0.3, "ci_high_ms": 190.0},
            {"runtime": "torch-cpu", "stage": "02-prune", "macs": 2.3e6, "latency_ms": 0.22}]
    fig = _drawn(monkeypatch, macs_vs_latency, rows, "test-cpu", 32)
    ax = fig.axes[0]
    assert "train (unstable)" in [t.get_text() for t in ax.texts] and "prune" in [t.get_text() for t in ax.texts]
    from matplotlib.collections import PathCollection

    hollow = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_facecolor().size == 0]
    assert len(hollow) == 1 and tuple(hollow[0].get_offsets()[0]) == (4.6, 145.0)
    assert ax.get_title() == "test-cpu, batch 32"


def test_the_comparison_legend_never_covers_a_point_label(monkeypatch, tmp_path):
    from toolkit.report.analysis import points
    from toolkit.report.collect import read_run

    runs = [read_run(quickstart_like_run(tmp_path, "alpha")),
            read_run(quickstart_like_run(tmp_path, "beta", baseline_wins=True))]
    series = {run.name: points(run) for run in runs}
    fig = _drawn(monkeypatch, accuracy_vs_latency, series, "test-cpu")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    legends = [fig.legends[0].get_window_extent(renderer)] if fig.legends else []
    legends += [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
    assert legends, "the chart has a legend"
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum(name.startswith("Pareto frontier") for name in names) == 1, names  # one entry for all panels
    labels = [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts]
    assert labels
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    for legend in legends:  # outside every panel, so it can cover neither a point nor a label
        assert not any(legend.overlaps(panel) for panel in panels), (legend, panels)
        assert not any(legend.overlaps(label) for label in labels), (legend, labels)


def test_one_legend_entry_for_frontiers_of_one_point_and_of_several():
    from toolkit.report.readability import legend_outside

    fig = Figure(layout="constrained")
    lone, several = fig.subplots(1, 2)
    draw_frontier(lone, [Point("01-train", "ort", 1, 0.05, 0.986, "d")])
    draw_frontier(several, [Point("01-train", "ort", 32, 1.0, 0.98, "d"), Point("02-prune", "ort", 32, 0.5, 0.97, "d")])
    legend_outside(fig, [lone, several])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "Pareto frontier (a lone circle: that model beats all others)"]


def test_a_frontier_of_one_dominating_point_stays_visible():
    fig = Figure()
    ax = fig.subplots()
    draw_frontier(ax, [Point("01-train", "ort", 1, 0.05, 0.986, "d")])
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["Pareto frontier (one model beats all others)"] and len(ax.collections) == 1


def test_train_loss_and_distillation_loss_get_separate_axes(tmp_path):
    run_dir = quickstart_like_run(tmp_path, "qs")
    from toolkit.report.collect import read_run

    run = read_run(run_dir)
    histories = {s.label: s.metrics["extra"]["history"] for s in run.stages if s.metrics["extra"].get("history")}
    kinds = loss_kinds(run.stages, histories)
    assert kinds == {"01-train": "cross-entropy loss", "03-distill": "distillation loss"}
    svg = base64.b64decode(training_curves(histories, kinds).split(",", 1)[1]).decode()
    assert svg.count('<g id="axes_') == 3  # cross-entropy, distillation, validation top-1
    one_kind = base64.b64decode(training_curves({"01-train": histories["01-train"]}, kinds).split(",", 1)[1])
    assert one_kind.decode().count('<g id="axes_') == 2


def test_a_comparison_sets_each_runs_best_model_side_by_side(compared):
    html = compared[2]
    table = html.split('<table class="side-by-side">', 1)[1].split("</table>", 1)[0]
    assert "alpha" in table and "beta" in table
    assert "02-prune" in table and "01-train" in table  # alpha's pick, beta's pick, in one row
    assert table.count("<tr>") == 3  # two header rows, one (device, batch) row


@pytest.mark.browser
def test_the_readable_report_in_a_real_browser(tmp_path):
    browser, sync_playwright = chromium_or_skip()
    a, b = quickstart_like_run(tmp_path, "alpha"), quickstart_like_run(tmp_path, "beta", baseline_wins=True)
    report = write_report([a, b], tmp_path / "cmp.html")
    errors = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        side = page.locator("table.side-by-side")
        assert side.is_visible() and side.bounding_box()["width"] > 400
        plain = page.locator("p.plain.why")  # one reason per recommendation: alpha's, then beta's
        assert plain.count() == 2 and plain.nth(1).is_visible()
        assert "The baseline, 01-train on openvino-cpu, stays" in plain.nth(1).inner_text()
        assert "2 of 360 validation images" in page.locator(".card").first.inner_text()
        charts = page.locator("img.chart")
        assert charts.count() >= 3 and all(charts.nth(i).evaluate("img => img.naturalWidth > 300")
                                           for i in range(charts.count()))
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        side.screenshot(path=str(tmp_path / "side-by-side.png"))
        chromium.close()
    assert not errors
    assert (tmp_path / "report.png").stat().st_size > 10_000 and (tmp_path / "side-by-side.png").stat().st_size > 2000


def test_the_accuracy_chart_marks_an_unstable_point(monkeypatch):
    from matplotlib.collections import PathCollection

    pts = [Point("01-train", "torch-cpu", 1, 145.0, 0.98, "d", 0.3, 190.0, unstable=True, order=1),
           Point("02-prune", "torch-cpu", 1, 0.22, 0.975, "d", 0.21, 0.23, order=2)]
    fig = _drawn(monkeypatch, accuracy_vs_latency, {"r": pts}, "d")
    ax = fig.axes[0]
    assert "train (unstable)" in [t.get_text() for t in ax.texts]
    drawn = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 1
             and c.get_label() == "torch-cpu"]  # the points themselves (not the frontier's rings)
    assert [c.get_facecolor().size == 0 for c in drawn] == [True, False]
    assert ax.get_title() == "d, batch 1"
