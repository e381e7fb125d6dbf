"""Typed run records: format 0 (toolkit 0.1.0) reads, writes round-trip, hand edits never traceback."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.layout import metrics_seal
from toolkit.records import (
    DEGRADED,
    FORMAT_VERSION,
    OK,
    RUN_STATUSES,
    STAGE_STATUSES,
    Record,
    RecordError,
    metrics_document,
    read_metrics,
    read_run,
    run_document,
)
from toolkit.report.collect import read_run as read_run_view
from toolkit.run.folder import RunFolder, write_metrics

ROOT = Path(__file__).resolve().parents[3]
FIELDS = ["status", "stages", "planned", "index", "name", "seconds", "model", "latency", "extra", "format_version"]
OLD_RUN = ROOT / "tests" / "data" / "runs-0.1.0" / "release-0.1.0"


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_run_folder_of_format_0_reads_whole():
    run = read_run(_json(OLD_RUN / "run.json"))
    assert run is not None and run.format_version == 0 and run.toolkit_version == "0.1.0"
    assert run.status == "complete" and [s.dir for s in run.stages] == ["01-train", "02-prune", "03-quantize"]
    assert run.as_dict() == _json(OLD_RUN / "run.json")  # nothing of a valid file is dropped
    for entry in run.stages:
        metrics = read_metrics(_json(OLD_RUN / entry.dir / "metrics.json"))
        assert metrics is not None and metrics.format_version == 0
        assert metrics.status == entry.status and metrics.stage == entry.type
        assert metrics.as_dict() == _json(OLD_RUN / entry.dir / "metrics.json")
    assert read_metrics(_json(OLD_RUN / "02-prune" / "metrics.json")).status == DEGRADED


def test_records_written_by_the_run_folder_round_trip_with_their_format_version(tmp_path):
    run_info = {"name": "r", "toolkit_version": "9", "status": "running", "started": "t", "finished": None,
                "seconds": None, "device": {"cpu": "x"}, "data": {"classes": ["a", "b"]}, "report": None,
                "stages": [{"index": 1, "name": "prune", "type": "prune", "dir": "01-prune", "key": "k",
                            "status": "ok", "cached": False, "seconds": 1.5, "reason": None,
                            "format": "torch"}],
                "planned": [{"index": 1, "name": "prune", "type": "prune"}], "custom": {"kept": [1, 2]}}
    RunFolder(tmp_path).write_run(run_info)
    written = _json(tmp_path / "run.json")
    assert written == {"format_version": FORMAT_VERSION, **run_info}
    assert next(iter(written)) == "format_version"
    back = read_run(written)
    assert back.format_version == FORMAT_VERSION and back.stages[0].seconds == 1.5
    assert back.custom == {"kept": [1, 2]}
    assert back.as_dict() == written

    metrics = {"stage": "prune", "name": "prune", "index": 1, "status": "ok", "reason": None, "seconds": 2,
               "key": "k", "measure_key": "m", "accuracy": {"top1": 0.5}, "latency": [{"runtime": "x"}],
               "extra": {"free": {"form": [1]}}, "artifacts": {}, "files": {}}
    stage = tmp_path / "01-prune"
    stage.mkdir()
    returned = write_metrics(stage, metrics)
    seal = returned.pop("seal")  # the SHA-256 of the rest: an edited number breaks it (toolkit.layout.SEAL)
    assert seal == metrics_seal(returned) and len(seal) == 32
    assert returned == {"format_version": FORMAT_VERSION, **metrics}
    returned["seal"] = seal
    assert returned == _json(stage / "metrics.json")
    assert RunFolder(tmp_path).read_metrics(stage) == returned
    assert read_metrics(returned).seconds == 2  # an int where a float is expected: a number, kept as written
    assert read_metrics(returned).as_dict()["seconds"] == 2 and type(returned["seconds"]) is int


def test_rewriting_a_record_restamps_its_version_instead_of_duplicating_it():
    assert metrics_document({"format_version": 0, "status": "skipped", "reason": "r"}) == \
        {"format_version": FORMAT_VERSION, "status": "skipped", "reason": "r"}


@pytest.mark.parametrize("bad", [{"status": "great"}, {"name": "r"}, {"status": "ok", "seconds": "1.5"},
                                 {"status": "ok", "stages": [{"status": "fine"}]}])
def test_the_writer_refuses_a_record_outside_the_schema(bad):
    with pytest.raises(RecordError, match="run.json"):
        run_document(bad)


def test_values_that_do_not_fit_are_read_as_absent_not_as_tracebacks():
    run = read_run({"name": 3, "status": "great", "seconds": float("nan"), "warnings": "one", "data": [1],
                    "stages": [7, {"index": True, "name": "a", "status": "fine", "cached": "yes"},
                               {"index": 2, "name": "b", "status": "ok"}], "planned": "all", 5: "int key"})
    assert run.name is None and run.status is None and run.seconds is None and run.warnings == []
    assert run.data is None and run.planned == []
    assert [(s.index, s.name, s.status, s.cached) for s in run.stages] == [(None, "a", None, None),
                                                                           (2, "b", "ok", None)]
    assert run.as_dict() == {"stages": [{"name": "a"}, {"index": 2, "name": "b", "status": "ok"}]}
    metrics = read_metrics({"status": "ok", "index": "3", "model": "m.onnx", "latency": [1, {"runtime": "x"}],
                            "extra": None, "format_version": "1"})
    assert metrics.status == OK and metrics.index is None and metrics.model is None
    assert metrics.format_version == 0
    assert metrics.latency == [] and "extra" not in metrics.as_dict()  # a latency record without a batch size goes
    top_level_only = read_metrics({"status": "ok", "latency": [1, {"runtime": "x"}]}, sections=False)
    assert top_level_only.latency == [{"runtime": "x"}]  # as the runner reads its own stages: sections unchecked
    assert read_run([1, 2]) is None and read_metrics("text") is None


def test_a_file_from_a_newer_toolkit_is_read_as_far_as_this_schema_goes():
    metrics = read_metrics({"format_version": FORMAT_VERSION + 1, "status": "ok", "new_section": {"a": 1}})
    assert metrics.format_version == FORMAT_VERSION + 1 and metrics.status == OK
    assert metrics.as_dict()["new_section"] == {"a": 1}


@pytest.fixture
def old_run(tmp_path) -> Path:
    return Path(shutil.copytree(OLD_RUN, tmp_path / OLD_RUN.name))


def _edit(path: Path, **changes) -> None:
    path.write_text(json.dumps({**_json(path), **changes}), encoding="utf-8")


def test_a_hand_edited_status_falls_back_to_the_run_json_entry_in_the_report(old_run):
    from toolkit.report import write_report

    _edit(old_run / "02-prune" / "metrics.json", status="great")
    _edit(old_run / "run.json", status="done?")
    view = read_run_view(old_run)
    assert view.run.get("status") is None
    assert [(s.label, s.status) for s in view.stages] == [("01-train", OK), ("02-prune", DEGRADED),
                                                          ("03-quantize", OK)]
    html = write_report([old_run], old_run / "report.html").read_text(encoding="utf-8")
    assert "great" not in html and "done?" not in html and "02-prune" in html


def test_a_hand_edited_status_in_both_files_shows_the_stage_as_missing(old_run):
    _edit(old_run / "02-prune" / "metrics.json", status=["ok"])
    run = _json(old_run / "run.json")
    run["stages"][1]["status"] = 7
    (old_run / "run.json").write_text(json.dumps(run), encoding="utf-8")
    stage = read_run_view(old_run).stages[1]
    assert (stage.label, stage.status) == ("02-prune", "missing")


def test_a_bad_status_makes_a_stage_folder_no_cache_hit(tmp_path):
    from toolkit.layout import content_hashes

    folder, stage = RunFolder(tmp_path), tmp_path / "01-export"
    stage.mkdir()
    (stage / "model.onnx").write_bytes(b"not really onnx")
    write_metrics(stage, {"stage": "export", "name": "export", "index": 1, "status": OK, "key": "k",
                          "model": {"format": "onnx", "file": "model.onnx"}, "files": content_hashes(stage)})
    assert folder.cached(1, "export", "k") is not None
    _edit(stage / "metrics.json", status="okay")
    assert folder.cached(1, "export", "k") is None  # recomputed rather than trusted
    assert folder.read_metrics(stage).get("status") is None


def test_record_gives_attribute_access_to_metrics():
    record = Record({"accuracy": {"top1": 0.9}, "latency": [{"p50_ms": 1.0}]})
    assert record.accuracy.top1 == 0.9 and record.latency[0].p50_ms == 1.0
    with pytest.raises(AttributeError, match="no field 'top5'"):
        _ = record.accuracy.top5


def test_every_status_the_readers_and_writers_compare_with_is_spelled_in_records_only():
    statuses = "|".join(sorted(STAGE_STATUSES | RUN_STATUSES | {"missing"}))
    literal = re.compile(rf'"status"\)?\s*(==|!=|:|=)\s*"({statuses})"|in \(("({statuses})",? ?)+\)')
    files = ["run/pipeline.py", "run/stage_runner.py", "run/folder.py", "run/follow.py", "run/share.py",
             "run/verdict.py", "report/collect.py", "report/build.py", "report/analysis.py", "bench/core.py",
             "measure/reuse.py", "cli/run_summary.py",
             "cli/bench_summary.py", "cli/format.py"]
    found = [f"{name}: {m.group(0)}" for name in files
             for m in literal.finditer((ROOT / "toolkit" / name).read_text(encoding="utf-8"))]
    assert found == []


def test_earlier_latency_records_skip_a_metrics_file_that_is_not_an_object(tmp_path):
    from toolkit.measure.reuse import earlier_records

    device = {"cpu": "Some CPU"}
    rec = {"runtime": "onnxruntime-cpu", "batch_size": 1, "status": OK, "graph_hash": "g", "p50_ms": 1.0}
    (tmp_path / "01-train").mkdir()
    (tmp_path / "01-train" / "metrics.json").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "02-prune").mkdir()
    write_metrics(tmp_path / "02-prune", {"status": OK, "measure_key": "m", "device": device,
                                          "latency": [rec]})
    assert earlier_records(tmp_path, 3, device, "m") == [("02-prune", rec)]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=6),
                           max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_the_readers_never_raise_on_any_json_value(value):
    for read in (read_run, read_metrics):
        record = read(value)
        assert record is None or isinstance(record.as_dict(), dict)
    if isinstance(value, dict):
        run = read_run({"stages": [value], "planned": [value], **value})
        assert all(isinstance(s.as_dict(), dict) for s in run.stages)


def test_typed_sections_drop_what_the_report_cannot_draw_and_keep_the_rest():
    metrics = read_metrics({"status": "ok", "accuracy": {"top1": 1.5, "top5": 0.9},
                            "latency": [{"runtime": "onnxruntime-cpu", "batch_size": 1, "p50_ms": 0, "p90_ms": 2.0},
                                        {"runtime": "openvino-cpu", "p50_ms": 1.0}],
                            "device": {"cpu": 7, "gpu": "none"},
                            "extra": {"channels": {"conv1": [16, 8], "conv2": [16], "conv3": [16, "8"]},
                                      "history": [{"epoch": 1, "loss": 0.5, "val_top1": 0.8}, {"epoch": 2}],
                                      "macs_before": 1.5, "placement": {"findings": "none"}, "new": {"kept": 1}}})
    seen = metrics.as_dict()
    assert seen["accuracy"] == {"top5": 0.9}  # top-1 is a fraction: 1.5 is read as absent
    assert seen["latency"] == [{"runtime": "onnxruntime-cpu", "batch_size": 1, "p90_ms": 2.0}]  # no 0 ms, no
    assert seen["device"] == {}  # record without a batch size; a CPU name is text, a GPU a mapping
    extra = seen["extra"]
    assert extra["channels"] == {"conv1": [16, 8]} and extra["history"] == [{"epoch": 1, "loss": 0.5, "val_top1": 0.8}]
    assert "macs_before" not in extra and extra["placement"] == {} and extra["new"] == {"kept": 1}


def test_the_bench_table_shows_each_stage_s_compute_seconds_not_zero(tmp_path):
    from toolkit.cli.bench_summary import measured_stages

    stage = tmp_path / "01-train"
    (stage / "measurements").mkdir(parents=True)
    write_metrics(stage, {"status": OK, "seconds": 47.5})
    (stage / "measurements" / "cpu.json").write_text(json.dumps({"stage": "train", "index": 1, "latency": []}))
    other = tmp_path / "02-prune"
    (other / "measurements").mkdir(parents=True)
    (other / "measurements" / "cpu.json").write_text(json.dumps({"stage": "prune", "index": 2, "latency": []}))
    rows = measured_stages([stage / "measurements" / "cpu.json", other / "measurements" / "cpu.json"])
    assert [r["seconds"] for r in rows] == [47.5, None]  # no metrics.json: unknown, never a made-up 0.0
