"""Hostile run-folder files: everything the report writes stays valid for its format, and a file the
report cannot use is left out with a warning naming it instead of failing the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from report_runs import quickstart_like_run  # noqa: E402  (tests/helpers is on sys.path)
from toolkit.formatting import markdown_text
from toolkit.report import write_report

ONE_PEER = {"top1": 0.98, "latency": [{"runtime": "onnxruntime-cpu", "batch_size": 1, "p50_ms": 0.03}]}


def _peers(run: Path, *peers: dict) -> None:
    (run / "peers.json").write_text(json.dumps({"format_version": 1, "peers": list(peers)}))


def _strict_json(path: Path) -> dict:
    def refuse(token: str):
        raise AssertionError(f"{path} holds the non-JSON token {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("name", ["$\\x", "a $b$ and $", "r$^{2$", "$$", "\\frac{$"])
def test_a_peer_name_that_matplotlib_would_parse_as_mathtext_is_drawn_as_text(tmp_path, name):
    run = quickstart_like_run(tmp_path, "r")
    _peers(run, {"name": name, **ONE_PEER})
    write_report([run], run / "report.html")  # mathtext would raise while drawing the chart
    summary = _strict_json(run / "summary.json")
    assert summary["runs"][0]["name"] == "r" and not summary["runs"][0]["warnings"]


def test_a_tiny_peer_latency_is_refused_not_turned_into_an_infinite_speedup(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    _peers(run, {"name": "fast", "top1": 0.99,
                 "latency": [{"runtime": "onnxruntime-cpu", "batch_size": 1, "p50_ms": 5e-324}]})
    write_report([run], run / "report.html")
    text = (run / "summary.json").read_text()
    _strict_json(run / "summary.json")
    markdown = (run / "summary.md").read_text()
    assert "inf" not in markdown.lower().replace("info", "")
    assert "peers.json" in text and "p50_ms between" in text  # the warning says why the peer is left out


def test_summary_markdown_escapes_names_from_the_run_folder(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    hostile = "x\n# injected heading\n<img src=x onerror=alert(1)> | cell [link](http://e)"
    one_line = "# peer <img src=x onerror=alert(2)> | [link](http://e) **bold**"
    _peers(run, {"name": one_line, **ONE_PEER, "top1": 0.999,  # the fastest and most accurate: recommended
                 "latency": [{"runtime": "onnxruntime-cpu", "batch_size": 1, "p50_ms": 0.001}]},
           {"name": hostile, **ONE_PEER})
    data = json.loads((run / "run.json").read_text())
    data["warnings"] = [hostile]
    (run / "run.json").write_text(json.dumps(data))
    write_report([run], run / "report.html")
    markdown = (run / "summary.md").read_text()
    assert "<img" not in markdown and "\n# injected" not in markdown and "[link](" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown  # the run.json warning, inert
    assert "\\# peer &lt;img src=x onerror=alert(2)&gt; \\| \\[link\\](http://e) \\*\\*bold" in markdown
    assert "name must be one line" in markdown  # the multi-line peer name is refused, and said so


def test_markdown_text_leaves_plain_names_readable():
    assert markdown_text("02-prune on onnxruntime-cpu (1.5x)") == "02-prune on onnxruntime-cpu (1.5x)"
    assert markdown_text("a|b\nc") == "a\\|b c"


@pytest.mark.parametrize("content", ["[]", "{\"complete\": true, \"pruning\": 3}",
                                     "{\"complete\": true, \"pruning\": {\"layers\": \"x\"}}", "not json",
                                     "{\"complete\": true, \"pruning\": {\"groups\": [{\"root\": 1}]}}",
                                     "{\"complete\": true, \"pruning\": [{\"root\": 1, \"ratio\": \"x\"}]}"])
def test_an_analysis_file_of_another_shape_is_left_out_with_a_warning_naming_it(tmp_path, content):
    run = quickstart_like_run(tmp_path, "r")
    (run / "analysis").mkdir()
    (run / "analysis" / "sensitivity-abc.json").write_text(content)
    write_report([run], run / "report.html")
    summary = _strict_json(run / "summary.json")
    warnings = " ".join(summary["runs"][0]["warnings"])
    assert "sensitivity-abc.json" in warnings and "left out of the report" in warnings


def test_a_latency_below_a_nanosecond_in_metrics_is_shown_as_missing(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    path = run / "02-prune" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["latency"][0]["p50_ms"] = 5e-324
    path.write_text(json.dumps(metrics))
    write_report([run], run / "report.html")
    _strict_json(run / "summary.json")
    assert "inf" not in (run / "summary.md").read_text().lower().replace("info", "")


def test_compress_report_says_its_warnings_on_the_terminal(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli.main import main

    run = quickstart_like_run(tmp_path, "r")
    (run / "analysis").mkdir()
    (run / "analysis" / "sensitivity-abc.json").write_text("[]")
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 0 and "warning:" in result.output and "sensitivity-abc.json" in result.output
