"""Shared fixtures: tiny recipes that run in seconds on two CPU cores."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

from processes import compress_process  # noqa: E402  (tests/helpers is importable from here on)

ROOT = Path(__file__).parents[1]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"

TINY_MEASURE = {"runtimes": ["torch-cpu", "onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.0,
                "min_iters": 3, "min_time_s": 0.0}


def tiny_recipe(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """A synthetic-data recipe with a small CIFAR ResNet, one short train stage, minimal timing."""
    raw = {
        "name": "tiny",
        "seed": 0,
        "model": {"arch": "resnet20", "kwargs": {"width": 8}},
        # batch 16: 16 steps in 2 epochs lift the model clear of chance level (with 8 it stays at chance,
        # and a run whose stage is at chance is `degraded`)
        "data": {"dataset": "synthetic", "image_size": 16, "num_samples": 160, "num_classes": 4,
                 "batch_size": 16},
        "measure": copy.deepcopy(TINY_MEASURE),
        "stages": [{"train": {"epochs": 2, "lr": 0.05}}],
        "output": str(tmp_path / "runs"),
    }
    raw.update(changes)
    return raw


@pytest.fixture
def tiny(tmp_path):
    """Factory for tiny recipe dicts rooted in this test's tmp folder."""
    return lambda **changes: tiny_recipe(tmp_path, **changes)


@pytest.fixture
def count_fits(monkeypatch):
    """Names of the stages whose training loop (toolkit.train.stage.fit) actually ran in this test."""
    import toolkit.train.stage as train_module

    calls = []
    real = train_module.fit

    def counting(model, cfg, ctx, **kw):
        calls.append(ctx.name)
        return real(model, cfg, ctx, **kw)

    monkeypatch.setattr(train_module, "fit", counting)
    return calls


@pytest.fixture
def temporary_stages():
    """`register_stage` for stages that exist during one test only: every stage registered while the test runs is
    unregistered afterwards, pass or fail (the registry is process-wide)."""
    from toolkit.registry import STAGES, register_stage, unregister_stage

    before = set(STAGES.names())
    yield register_stage
    for name in set(STAGES.names()) - before:
        unregister_stage(name)


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory) -> Path:
    """The quickstart recipe run once per session, exactly as a new user runs it (`compress run
    recipes/quickstart.yaml` in a fresh folder, one process); returns that folder (the run is runs/quickstart).

    Shared: test_quickstart checks what it reaches and test_trust compares two processes against it, so the
    12-epoch recipe is trained once instead of twice. Tests must not change what is in it, except by re-running it.
    """
    work = tmp_path_factory.mktemp("quickstart")
    done = compress_process(["run", str(QUICKSTART), "--quiet"], work, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    return work
