"""Every benchmark script runs end to end in a smoke mode on tiny data, so none of them can rot."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("module,args,result", [
    ("benchmarks.frontier", ["--smoke"], "frontier_smoke"),
    ("benchmarks.overhead", ["--smoke"], "overhead_smoke"),
    ("benchmarks.repeatability", ["--smoke"], "repeatability_smoke"),
    ("benchmarks.kd_vs_finetune", ["--smoke"], "kd_vs_finetune_smoke"),
])
def test_benchmark_script_runs_in_smoke_mode_and_writes_its_tables(module, args, result, tmp_path):
    import importlib

    script = importlib.import_module(module)
    extra = ["--work", str(tmp_path / "work")] if module != "benchmarks.repeatability" else []
    assert script.main([*args, "--out", str(tmp_path), *extra]) == 0
    data = json.loads((tmp_path / f"{result}.json").read_text())
    assert data["rows"] and data["date"] and data["toolkit_version"] and data["machine"]["cpu"]
    table = (tmp_path / f"{result}.md").read_text()
    assert table.startswith("# ") and "| " in table
