"""INT8 that is slower than fp32 on a CPU runtime is flagged in extra, the CLI table and the report."""

from __future__ import annotations

import json

from toolkit.cli_format import summary_tables
from toolkit.pipeline import run_recipe
from toolkit.quantize import speed_check
from toolkit.recipe import parse_recipe


def _run(tiny, tmp_path):
    raw = tiny(stages=[{"train": {"epochs": 1}}, {"quantize": {"cache_dir": str(tmp_path / "calib")}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    return run_recipe(parse_recipe(raw))


def test_a_slower_int8_is_flagged_in_the_table_and_never_recommended(tiny, tmp_path, monkeypatch):
    # DenseNet-like behaviour made deterministic: the comparison's timer reports INT8 at twice fp32's p50.
    times = iter([1.0, 2.0] * 10)
    monkeypatch.setattr(speed_check, "time_calls", lambda call, spec, sync=None: {"p50_ms": next(times)})
    result = _run(tiny, tmp_path)
    quant = result.stages[-1]
    check = quant.metrics["extra"]["int8_vs_fp32"]
    assert check["slower_on"] == ["onnxruntime-cpu@1"] and check["records"][0]["int8_speedup"] == 0.5
    assert "INT8 is slower than fp32 on onnxruntime-cpu at batch 1" in (quant.directory / "log.txt").read_text()
    from rich.console import Console

    console = Console(width=200, record=True)
    for table in summary_tables([s.metrics for s in result.stages]):
        console.print(table)
    assert "int8 slower!" in console.export_text()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    (rec,) = summary["runs"][0]["recommendations"]
    assert rec["stage"] != "02-quantize" and rec["int8_slower_excluded"] == ["02-quantize on onnxruntime-cpu"]
    assert "INT8 slower than fp32" in (result.run_dir / "report.html").read_text()
