"""timm as a model source (issue 33, item 7): `arch: "timm:NAME"` builds timm's model without weights; without
timm a recipe that names one fails validation with the install line; an unknown name gets close names; and
`compress validate --schema-only` checks the form without importing timm or torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.config import InputShape, ModelSpec
from toolkit.errors import UserInputError
from toolkit.models import build_model, check_arch, names_only

ROOT = Path(__file__).resolve().parents[3]
RECIPE = "name: t\nmodel: {arch: '%s'}\ndata: {dataset: synthetic, image_size: 32, num_samples: 16}\nstages: [train]\n"


def _recipe(tmp_path: Path, arch: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE % arch)
    return path


def test_a_timm_name_builds_timms_model_for_the_classes_and_channels_without_weights():
    pytest.importorskip("timm", reason="timm is an optional extra: pip install -e '.[timm]'")
    model = build_model(ModelSpec(arch="timm:lcnet_050"), num_classes=4, input_shape=InputShape(1, 32, 32)).eval()
    assert type(model).__module__.startswith("timm.") and model(torch.randn(2, 1, 32, 32)).shape == (2, 4)
    with pytest.raises(UserInputError, match="pretrained cannot be set for a timm model.*model.checkpoint"):
        build_model(ModelSpec(arch="timm:lcnet_050", kwargs={"pretrained": True}), 4)


def test_an_unknown_timm_name_is_refused_with_close_names(tmp_path):
    pytest.importorskip("timm", reason="timm is an optional extra: pip install -e '.[timm]'")
    assert "unknown timm model 'ghostnet_10'; did you mean timm:ghostnet_1" in check_arch("timm:ghostnet_10")
    result = CliRunner().invoke(main, ["validate", str(_recipe(tmp_path, "timm:lcnet_05"))])
    assert result.exit_code == 2 and "unknown timm model 'lcnet_05'; did you mean timm:" in result.output
    assert "timm:lcnet_050" in result.output


@pytest.mark.parametrize("schema_only", [False, True])
def test_without_timm_a_timm_recipe_fails_validation_with_the_install_line(tmp_path, monkeypatch, schema_only):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` fails and find_spec finds nothing: not installed
    args = ["validate", str(_recipe(tmp_path, "timm:ghostnet_100"))] + (["--schema-only"] if schema_only else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert problems == ["  model.arch: timm is not installed; timm models are an optional extra: "
                        'pip install -e ".[timm]"']


def test_schema_only_checks_a_timm_names_form_and_leaves_the_name_to_the_pre_flight_importing_neither(tmp_path):
    _recipe(tmp_path, "timm:not_a_model_yet")
    probe = ("import json, sys; from click.testing import CliRunner; from toolkit.cli.main import main; "
             "r = CliRunner().invoke(main, ['validate', '--schema-only', 'r.yaml']); "
             "print(json.dumps([r.exit_code, r.output, [m for m in ('torch', 'timm') if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=True)
    code, output, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    if "timm is not installed" in output:  # a machine without the extra: refused at once, still without torch
        assert code == 2 and heavy == []
        return
    assert code == 0 and heavy == [], output
    assert "the pre-flight checks torchvision and timm names and module paths: timm:not_a_model_yet" in output
    with names_only() as left:
        assert "not of the form 'timm:NAME'" in check_arch("timm:hf-hub:someone/model")
    assert left == []
