"""Run folders are data: no code chosen by a file, no lost user files, no writes through links, plain errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.errors import ArtifactError, RunLockedError, ToolkitError, UserInputError
from toolkit.models.io import load_model
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

HUBCONF = """
import pathlib
from torch import nn

def evil(num_classes=10, **kwargs):
    pathlib.Path(__file__).with_name("RAN").write_text("payload ran")
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))
"""
FAST_BENCH = {"warmup_s": 0.0, "min_iters": 1, "min_time_s": 0.0}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny finished run (train 1 epoch, torch-cpu only), copied by each test that changes it."""
    from conftest import tiny_recipe

    root = tmp_path_factory.mktemp("untrusted")
    raw = tiny_recipe(root, stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    raw["data"]["num_samples"] = 64
    return run_recipe(parse_recipe(raw)).run_dir


@pytest.fixture
def run_copy(finished, tmp_path):
    copy = tmp_path / "copied" / finished.name
    shutil.copytree(finished, copy, symlinks=True)
    return copy


def _payload(tmp_path: Path) -> Path:
    repo = tmp_path / "payload"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    return repo


def _point_structure_at(stage_dir: Path, repo: Path) -> None:
    path = stage_dir / "structure.json"
    data = json.loads(path.read_text())
    data["spec"]["model"].update(arch="torch.hub:load", kwargs={"repo_or_dir": str(repo), "model": "evil",
                                                                 "source": "local"})
    path.write_text(json.dumps(data))


def test_a_structure_file_naming_a_python_function_runs_nothing_unless_trusted(run_copy, tmp_path):
    repo = _payload(tmp_path)
    stage = run_copy / "01-train"
    _point_structure_at(stage, repo)
    with pytest.raises(ArtifactError, match="never chooses code.*trust_code=True"):
        load_model(stage)
    result = CliRunner().invoke(main, ["bench", "--model", str(stage), "--runtime", "torch-cpu"])
    assert result.exit_code == 2 and "--trust-code" in result.output
    assert not (repo / "RAN").exists()
    with pytest.warns(UserWarning, match="trust_code=True"), pytest.raises(ArtifactError):
        load_model(stage, trust_code=True)  # the caller vouches: the function runs (its weights do not fit)
    assert (repo / "RAN").exists()


def test_an_unknown_architecture_in_a_structure_file_is_refused(run_copy):
    path = run_copy / "01-train" / "structure.json"
    data = json.loads(path.read_text())
    data["spec"]["model"]["arch"] = "os.path"  # not a registered or torchvision name
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="unknown architecture"):
        load_model(run_copy / "01-train")


def test_a_resumed_run_recomputes_a_stage_whose_structure_file_changed(finished, tmp_path):
    repo = _payload(tmp_path)
    raw = yaml_recipe(finished)
    raw["output"] = str(tmp_path / "out")
    shutil.copytree(finished, tmp_path / "out" / finished.name, symlinks=True)
    stage = tmp_path / "out" / finished.name / "01-train"
    assert "structure.json" in json.loads((stage / "metrics.json").read_text())["files"]
    _point_structure_at(stage, repo)
    result = run_recipe(parse_recipe(raw))
    assert result.stages[0].cached is False and not (repo / "RAN").exists()


def yaml_recipe(run_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((run_dir / "recipe.yaml").read_text())


def test_bench_of_a_run_folder_imports_none_of_its_plugins_unless_trusted(run_copy, monkeypatch):
    import yaml

    (run_copy / "evil_plugin.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n")
    raw = yaml_recipe(run_copy)
    raw["plugins"] = ["evil_plugin"]
    (run_copy / "recipe.yaml").write_text(yaml.safe_dump(raw))
    path_before = list(sys.path)
    result = CliRunner().invoke(main, ["bench", str(run_copy), "--runtime", "torch-cpu", "--batch-size", "1",
                                       "--min-iters", "1"])
    assert result.exit_code == 0, result.output
    assert "not imported" in result.output and not (run_copy / "RAN").exists()
    assert sys.path == path_before and "evil_plugin" not in sys.modules


def test_a_folder_of_the_users_is_never_emptied_or_used_as_a_run_folder(tiny, tmp_path):
    holidays = tmp_path / "Pictures" / "holidays"
    for name in ("01-january", "02-beach"):
        (holidays / name).mkdir(parents=True)
        (holidays / name / "photo.jpg").write_bytes(b"\xff\xd8 not really a photo")
    with pytest.raises(UserInputError, match="not a run folder"):
        run_recipe(parse_recipe(tiny(output=str(tmp_path / "Pictures"), name="holidays")))
    assert sorted(p.name for p in holidays.iterdir()) == ["01-january", "02-beach"]
    assert (holidays / "02-beach" / "photo.jpg").is_file()


def test_stale_stage_cleanup_removes_only_folders_the_toolkit_wrote(run_copy):
    from toolkit.run.folder import RunFolder

    (run_copy / "05-notes").mkdir()
    (run_copy / "05-notes" / "mine.txt").write_text("keep me")
    shutil.copytree(run_copy / "01-train", run_copy / "03-old")  # a stale stage: its config.json has a key
    removed = RunFolder(run_copy).cleanup([(1, "train")])
    assert removed == ["03-old"]
    assert (run_copy / "05-notes" / "mine.txt").read_text() == "keep me"


def test_nothing_is_written_through_a_symbolic_link_in_a_run_folder(run_copy, tmp_path, tiny):
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_copy / "01-train" / "measurements").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserInputError, match="symbolic link"):
        from toolkit.bench import bench_run

        bench_run(run_copy, ["torch-cpu"], [1], FAST_BENCH, log=lambda m: None)
    (run_copy / "01-train" / "measurements").unlink()
    (outside / "log.txt").write_text("mine\n")
    (run_copy / "log.txt").unlink()
    (run_copy / "log.txt").symlink_to(outside / "log.txt")
    raw = yaml_recipe(run_copy)
    raw["output"] = str(run_copy.parent)
    with pytest.raises(UserInputError, match="symbolic link"):
        run_recipe(parse_recipe(raw))
    assert list(outside.iterdir()) == [outside / "log.txt"] and (outside / "log.txt").read_text() == "mine\n"


HOLDER = """
import sys, time
from pathlib import Path
from toolkit.fsutil import run_lock
from toolkit.errors import RunLockedError
try:
    with run_lock(Path(sys.argv[1])):
        print("got", flush=True)
        time.sleep(float(sys.argv[2]))
except RunLockedError as exc:
    print("locked", exc, flush=True)
"""


def _holders(run_dir: Path, count: int, hold_s: float) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    return [subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), str(hold_s)], stdout=subprocess.PIPE,
                             text=True, env=env) for _ in range(count)]


def test_a_stale_lock_is_taken_over_by_exactly_one_of_several_processes(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / ".lock").write_text(f"{dead.pid}\n")  # left by a killed process
    outputs = [p.communicate(timeout=60)[0] for p in _holders(run_dir, 4, 2.0)]
    assert sum(out.startswith("got") for out in outputs) == 1, outputs
    assert all("pid" in out for out in outputs if out.startswith("locked"))


def test_a_lock_file_naming_a_live_but_unrelated_pid_is_taken_over(tmp_path):
    from toolkit.fsutil import run_lock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # the pid was reused
    try:
        (run_dir / ".lock").write_text(f"{unrelated.pid}\n")
        with run_lock(run_dir):  # only the kernel lock counts: nobody holds it
            assert (run_dir / ".lock").read_text().split()[0] == str(os.getpid())
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_killed_holders_lock_frees_itself_and_a_live_one_is_named(tmp_path):
    from toolkit.fsutil import run_lock

    run_dir = tmp_path / "run"
    holder = _holders(run_dir, 1, 60.0)[0]
    assert holder.stdout.readline().startswith("got")
    try:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"), run_lock(run_dir):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run_dir):
        assert (run_dir / ".lock").read_text().split()[0] == str(os.getpid())
    assert not (run_dir / ".lock").exists()


def test_a_full_disk_while_writing_weights_is_a_plain_error_that_is_not_replaced(tiny, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    from toolkit.run.folder import RunFolder

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    write_run = RunFolder.write_run

    def failing_write_run(self, data):
        if data.get("status") == "failed":
            raise ToolkitError("cannot write run.json: the disk is full")  # the handler's own write fails too
        write_run(self, data)

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    monkeypatch.setattr(RunFolder, "write_run", failing_write_run)
    raw = tiny(stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    with pytest.raises(ToolkitError, match=r"model\.safetensors: the disk is full"):
        run_recipe(parse_recipe(raw))


def test_report_and_bench_on_a_read_only_run_folder_are_plain_errors(run_copy, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # as root, chmod cannot make a folder read-only
    result = CliRunner().invoke(main, ["report", str(run_copy)])
    assert result.exit_code == 1 and "read-only" in result.output and not isinstance(result.exception, OSError)
    result = CliRunner().invoke(main, ["bench", str(run_copy), "--runtime", "torch-cpu", "--batch-size", "1",
                                       "--min-iters", "1"])
    assert result.exit_code == 1 and "read-only" in result.output and not isinstance(result.exception, OSError)


def test_report_of_a_run_folder_with_wrongly_shaped_json_is_built_or_refused_plainly(run_copy, tmp_path):
    from toolkit.report import write_report

    metrics = json.loads((run_copy / "01-train" / "metrics.json").read_text())
    metrics.update(accuracy="high", latency={"torch-cpu": 1}, model=[1, 2], device="cpu", seconds="long")
    (run_copy / "01-train" / "metrics.json").write_text(json.dumps(metrics))
    assert write_report([run_copy], tmp_path / "r.html").is_file()
    (run_copy / "run.json").write_text("[1, 2, 3]")
    result = CliRunner().invoke(main, ["report", str(run_copy)])
    assert result.exit_code == 2 and "not a JSON object" in result.output


def test_metrics_files_are_strict_json(finished):
    def refuse(token):
        raise AssertionError(f"bare {token} in metrics.json")

    for path in finished.rglob("metrics.json"):
        json.loads(path.read_text(), parse_constant=refuse)



# --- property-based: the run-folder readers meet edited, truncated and garbage files --------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EDITED_FILES = ["run.json", "recipe.yaml", "01-train/metrics.json", "01-train/structure.json",
                "01-train/config.json"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _node_paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield from _node_paths(child, (*prefix, key))


def _mutate(path: Path, data) -> None:
    import yaml

    text = path.read_bytes()
    mode = data.draw(st.sampled_from(["replace", "delete", "truncate", "garbage"]), label="mode")
    if mode == "truncate":
        path.write_bytes(text[: data.draw(st.integers(0, max(0, len(text) - 1)), label="cut")])
        return
    if mode == "garbage":
        path.write_bytes(data.draw(st.binary(max_size=64), label="bytes"))
        return
    is_yaml = path.suffix == ".yaml"
    doc = yaml.safe_load(text) if is_yaml else json.loads(text)
    where = data.draw(st.sampled_from(list(_node_paths(doc))), label="where")
    value = data.draw(json_values, label="value")
    if not where:
        doc = value
    else:
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        if mode == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = value
    path.write_text(yaml.safe_dump(doc) if is_yaml else json.dumps(doc))


def _only_toolkit_errors(call) -> None:
    try:
        call()
    except ToolkitError as exc:
        assert str(exc).strip() and "Traceback" not in str(exc)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_run_folder_readers_raise_only_toolkit_errors_on_edited_files(finished, tmp_path_factory, data):
    from toolkit.bench import bench_run
    from toolkit.report import write_report

    work = tmp_path_factory.mktemp("fuzz")
    run_dir = work / finished.name
    shutil.copytree(finished, run_dir, symlinks=True)
    _mutate(run_dir / data.draw(st.sampled_from(EDITED_FILES), label="file"), data)
    _only_toolkit_errors(lambda: write_report([run_dir], work / "report.html"))
    _only_toolkit_errors(lambda: load_model(run_dir / "01-train"))
    _only_toolkit_errors(lambda: bench_run(run_dir, ["torch-cpu"], [1], FAST_BENCH, log=lambda m: None))
