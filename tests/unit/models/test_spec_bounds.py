"""An edited structure.json is checked against the weights header before the model is built."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import ArtifactError
from toolkit.models import build_model
from toolkit.models.io import load_model, save_model
from toolkit.config import ModelSpec


def _saved(tmp_path):
    spec = ModelSpec(arch="resnet20", kwargs={"width": 4})
    save_model(build_model(spec, 5).eval(), tmp_path,
               {"model": spec.model_dump(mode="json"), "num_classes": 5, "image_size": 16})


def _edit_spec(tmp_path, **changes):
    path = tmp_path / "structure.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "kwargs":
            data["spec"]["model"]["kwargs"].update(value)
        else:
            data["spec"][key] = value
    path.write_text(json.dumps(data))


def test_a_class_count_found_in_no_saved_tensor_is_refused(tmp_path):
    _saved(tmp_path)
    _edit_spec(tmp_path, num_classes=123)
    with pytest.raises(ArtifactError, match="num_classes 123 is not a dimension"):
        load_model(tmp_path)


def test_a_class_count_over_the_bound_is_refused(tmp_path):
    _saved(tmp_path)
    _edit_spec(tmp_path, model={"arch": "resnet20", "num_classes": 50_000_000})
    with pytest.raises(ArtifactError, match="bad model spec"):
        load_model(tmp_path)


def test_kwargs_that_build_far_more_than_the_weights_are_refused_before_allocating(tmp_path, monkeypatch):
    import toolkit.models.spec_bounds as bounds

    monkeypatch.setattr(bounds, "FLOOR_ELEMENTS", 1000)  # a small model stands in for a gigabyte one
    _saved(tmp_path)
    _edit_spec(tmp_path, kwargs={"width": 64})
    with pytest.raises(ArtifactError, match="far more than"):
        load_model(tmp_path)
    _edit_spec(tmp_path, kwargs={"width": 4})
    assert load_model(tmp_path) is not None
