"""benchmarks/cli_startup.py runs end to end (one timed run per command), so it cannot rot."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_cli_startup_benchmark_times_every_command_and_names_heavy_imports(tmp_path):
    from benchmarks import cli_startup

    assert cli_startup.main(["--runs", "1", "--out", str(tmp_path)]) == 0
    [result] = tmp_path.glob("cli_startup_*.json")
    data = json.loads(result.read_text())
    assert [r["command"] for r in data["rows"]] == list(cli_startup.COMMANDS)
    assert all(r["wall_median_s"] > 0 and r["cpu_median_s"] > 0 for r in data["rows"])
    assert {r["heavy_imports"] for r in data["rows"]} == {"none"}  # this checkout imports none of them
    assert data["machine"]["cpu"] and "Load average" in result.with_suffix(".md").read_text()
