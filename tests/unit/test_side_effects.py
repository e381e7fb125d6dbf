"""Parsing a recipe and quantizing leave the process as they found it (sys.path, logging, working directory)."""

from __future__ import annotations

import logging
import sys

from toolkit.recipe import load_recipe


def test_parsing_a_recipe_with_plugins_leaves_sys_path_unchanged(tmp_path, tiny):
    import yaml

    (tmp_path / "my_recipe_plugin.py").write_text("VALUE = 42\n")
    raw = tiny(plugins=["my_recipe_plugin"])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    before = list(sys.path)
    try:
        load_recipe(path)
        assert sys.modules["my_recipe_plugin"].VALUE == 42  # the plugin was imported from the recipe's folder
        assert sys.path == before
    finally:
        sys.modules.pop("my_recipe_plugin", None)


def test_silencing_onnx_runtime_advice_keeps_the_root_logger_level_and_other_records(caplog):
    from toolkit.quantize.ptq import _quiet

    root = logging.getLogger()
    level = root.level
    with caplog.at_level(logging.WARNING), _quiet():
        assert root.level == logging.WARNING  # caplog's level: _quiet did not raise it
        logging.getLogger("someone.else").warning("kept")
    assert root.level == level
    assert "kept" in caplog.text
    assert not [f for f in root.filters if type(f).__name__ == "_OrtAdvice"]  # the filter is removed again


def test_onnx_runtime_quantizer_advice_is_dropped_and_its_errors_are_kept():
    from toolkit.quantize.ptq import _OrtAdvice

    def record(path: str, level: int) -> logging.LogRecord:
        return logging.LogRecord("root", level, path, 1, "advice", None, None)

    ort = "/site-packages/onnxruntime/quantization/quant_utils.py"
    assert not _OrtAdvice().filter(record(ort, logging.WARNING))
    assert _OrtAdvice().filter(record(ort, logging.ERROR))
    assert _OrtAdvice().filter(record("/site-packages/other/module.py", logging.WARNING))
