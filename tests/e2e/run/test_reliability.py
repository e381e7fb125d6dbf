"""Reliability and security: bad input, interruptions, concurrent runs, disk errors, untrusted files."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from toolkit.errors import ArtifactError, RecipeError, ToolkitError
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

BASE = {"name": "prop", "model": {"arch": "seed_cnn"}, "data": {"dataset": "digits", "image_size": 32},
        "measure": {"runtimes": ["torch-cpu"], "batch_sizes": [1]},
        "stages": [{"train": {"epochs": 1}}, {"prune": {"target": {"ratio": 0.5}}}, {"quantize": {}}]}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(-2, 40), max_size=3))
KEYS = ["name", "seed", "model", "arch", "data", "dataset", "image_size", "batch_size", "stages", "train", "epochs",
        "prune", "target", "ratio", "quantize", "measure", "runtimes", "teacher", "distill", "engine", "plugins",
        "root", "lr", "bogus", "global", "output"]
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                           max_leaves=12)


def _mutate(raw, path, value):
    node = raw
    for part in path[:-1]:
        node = node[part] if isinstance(node, dict) and part in node else None
        if node is None:
            return raw
    if isinstance(node, dict):
        node[path[-1]] = value
    return raw


PATHS = [("name",), ("seed",), ("model", "arch"), ("model", "num_classes"), ("data", "dataset"),
         ("data", "image_size"), ("data", "root"), ("measure", "runtimes"), ("measure", "batch_sizes"), ("stages",),
         ("plugins",), ("output",), ("model",), ("data",), ("bogus",)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=json_values)
def test_mutated_recipes_are_accepted_or_refused_with_the_toolkits_own_error(path, value):
    raw = _mutate(json.loads(json.dumps(BASE)), path, value)
    try:
        parse_recipe(raw)
    except RecipeError as exc:
        assert exc.problems and all(isinstance(p, str) and isinstance(m, str) for p, m in exc.problems)


@settings(max_examples=100, deadline=None)
@given(raw=json_values)
def test_random_documents_are_accepted_or_refused_with_the_toolkits_own_error(raw):
    try:
        parse_recipe(raw)
    except RecipeError:
        pass


def test_a_bad_recipe_writes_nothing_to_an_existing_run_folder(tiny):
    result = run_recipe(parse_recipe(tiny()))
    before = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*")}
    bad = tiny()
    bad["data"]["root"] = "nowhere"
    bad["data"]["dataset"] = "imagefolder"
    with pytest.raises(RecipeError):
        run_recipe(parse_recipe(bad))
    bad_data = tiny(model={"arch": "seed_cnn"})
    bad_data["data"]["image_size"] = 8
    with pytest.raises(ToolkitError):
        run_recipe(parse_recipe(bad_data))
    assert {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*")} == before


def test_disk_full_is_a_clear_error_and_keeps_the_previous_complete_state(tiny, monkeypatch):
    import toolkit.fsutil as fsutil

    first = run_recipe(parse_recipe(tiny()))
    weights = (first.run_dir / "01-train" / "model.safetensors").read_bytes()
    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith("model.safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", full)
    with pytest.raises(ToolkitError, match="the disk is full"):
        run_recipe(parse_recipe(tiny()), fresh=True)
    assert (first.run_dir / "01-train" / "model.safetensors").read_bytes() == weights
    assert not list(first.run_dir.rglob(".*.tmp"))


def test_a_changed_cached_artifact_is_recomputed_not_trusted(tiny):
    first = run_recipe(parse_recipe(tiny()))
    weights = first.run_dir / "01-train" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    again = run_recipe(parse_recipe(tiny()))
    assert not again.stages[0].cached


def test_tampered_artifacts_fail_naming_the_file(tiny, tmp_path):
    from click.testing import CliRunner

    from toolkit.cli.main import main
    from toolkit.run.stage_runner import load_output

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07 not a protobuf")
    result = CliRunner().invoke(main, ["bench", "--model", str(bad)])
    assert result.exit_code == 2 and "broken.onnx" in result.output and "Traceback" not in result.output
    with pytest.raises(ArtifactError, match="not a plain file name"):
        load_output(tmp_path, {"model": {"format": "onnx", "file": "../../etc/passwd"}}, None)


def _cmyk_and_broken_tree(root: Path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)).convert("CMYK").save(
                    folder / f"{i}.jpg")
    (root / "train" / "a" / "zero.jpg").write_bytes(b"")
    (root / "train" / "b" / "cut.jpg").write_bytes((root / "train" / "b" / "0.jpg").read_bytes()[:40])


def test_streamed_cmyk_and_broken_images_do_not_crash_workers(tmp_path):
    from toolkit.data import build_data
    from toolkit.config import DataSpec

    _cmyk_and_broken_tree(tmp_path)
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=False, workers=1))
    seen = sum(len(y) for _, y in bundle.train_batches(0, 0, batch_size=4, augment=False))
    assert seen == 8  # the empty file and the truncated header are both found at the scan
    assert bundle.info["bad_file_count"] == 2


def test_bad_files_are_listed_in_the_run_log(tmp_path, tiny):
    _cmyk_and_broken_tree(tmp_path / "imgs")
    raw = tiny(data={"dataset": "imagefolder", "root": str(tmp_path / "imgs"), "image_size": 8, "batch_size": 4},
               model={"arch": "user_models:tiny_net"})
    result = run_recipe(parse_recipe(raw))
    log = (result.run_dir / "log.txt").read_text()
    assert "zero.jpg" in log and "cut.jpg" in log


RECIPE = {
    "name": "killme", "seed": 0, "model": {"arch": "resnet20", "kwargs": {"width": 8}},
    "data": {"dataset": "synthetic", "image_size": 16, "num_samples": 480, "num_classes": 4, "batch_size": 16},
    "measure": {"runtimes": ["torch-cpu", "onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 3,
                "min_time_s": 0.0},
    "stages": [{"train": {"epochs": 6}}, {"prune": {"target": {"ratio": 0.4}, "round_to": None, "finetune_epochs": 3}},
               {"quantize": {"calibration": {"samples": 64}}}],
}


def _start(recipe_path: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "toolkit", "run", str(recipe_path)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _signal_when(proc: subprocess.Popen, marker: str, sig: int, timeout: float = 240) -> str:
    seen, deadline = [], time.time() + timeout
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(sig)
            break
        if time.time() > deadline:
            break
    out = "".join(seen) + proc.stdout.read()
    proc.wait(timeout=60)
    return out


@pytest.mark.slow
def test_killed_runs_resume_where_they_stopped_and_leave_no_partial_files(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    run_dir = tmp_path / "runs" / "killme"

    started = time.time()
    out = _signal_when(_start(recipe, tmp_path), "train epoch 2/6", signal.SIGINT)
    assert "interrupted" in out and "Traceback" not in out
    assert time.time() - started < 200
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "01-train").exists() and (run_dir / ".01-train.partial" / "train.ckpt").is_file()

    proc = _start(recipe, tmp_path)
    out = _signal_when(proc, "finetune-1 epoch 1/3", signal.SIGTERM)
    assert proc.returncode == 130 and "interrupted" in out
    train = json.loads((run_dir / "01-train" / "metrics.json").read_text())
    assert train["extra"]["resumed_from_epoch"] == 2 and len(train["extra"]["history"]) == 6
    assert not (run_dir / "02-prune").exists()

    done = subprocess.run([sys.executable, "-m", "toolkit", "run", str(recipe)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    prune = json.loads((run_dir / "02-prune" / "metrics.json").read_text())
    assert prune["extra"]["steps"][0]["finetune"]["resumed_from_epoch"] == 1
    assert not list(run_dir.glob(".*.partial")) and not list(run_dir.rglob("*.tmp"))
    assert not list(run_dir.rglob("*.ckpt"))


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_fails_at_once_naming_the_holder(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    first = _start(recipe, tmp_path)
    for line in first.stdout:
        if "train epoch 1/6" in line:
            break
    started = time.time()
    second = subprocess.run([sys.executable, "-m", "toolkit", "run", str(recipe)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 3 and f"pid {first.pid}" in second.stderr + second.stdout
    assert time.time() - started < 60
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
