"""The stage table after a run that did not complete: only stages that ran, the failed one blamed, cached marked."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.cli.run_summary import stages_from_folder

PLANNED = [{"index": 1, "name": "train", "type": "train"}, {"index": 2, "name": "zero_head", "type": "zero_head"},
           {"index": 3, "name": "after", "type": "zero_head"}]


def _run_folder(tmp_path: Path, **run: object) -> Path:
    stages = [{"index": 1, "name": "train", "type": "train", "dir": "01-train", "status": "ok", "cached": True},
              {"index": 2, "name": "zero_head", "type": "zero_head", "dir": "02-zero_head", "status": "degraded",
               "cached": False, "reason": "top-1 0.2500 is at chance level"}]
    for entry in stages:
        (tmp_path / entry["dir"]).mkdir()
        (tmp_path / entry["dir"] / "metrics.json").write_text(json.dumps(
            {"stage": entry["type"], "name": entry["name"], "index": entry["index"], "status": entry["status"],
             "reason": entry.get("reason"), "accuracy": {"top1": 0.9 if entry["index"] == 1 else 0.25}}))
    (tmp_path / "run.json").write_text(json.dumps({"name": "tiny", "stages": stages, "planned": PLANNED, **run}))
    return tmp_path


def test_a_strict_stop_lists_the_stages_that_ran_and_blames_none_that_did_not(tmp_path):
    run_dir = _run_folder(tmp_path, status="stopped", error="--strict: stage 02-zero_head is degraded: ...")
    rows = stages_from_folder(run_dir)
    assert [(r["name"], r["status"], r["cached"]) for r in rows] == [("train", "ok", True),
                                                                     ("zero_head", "degraded", False)]


def test_a_failed_run_blames_the_stage_it_was_inside_only(tmp_path):
    run_dir = _run_folder(tmp_path, status="failed", error="stage after failed: boom", failed_stage="03-after")
    rows = stages_from_folder(run_dir)
    assert [(r["name"], r["status"]) for r in rows][-1] == ("after", "failed")
    assert rows[-1]["reason"] == "stage after failed: boom" and len(rows) == 3
    (run_dir / "run.json").write_text(json.dumps({**json.loads((run_dir / "run.json").read_text()),
                                                  "failed_stage": None}))  # failed outside any stage
    assert [r["name"] for r in stages_from_folder(run_dir)] == ["train", "zero_head"]
