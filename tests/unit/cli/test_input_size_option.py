"""`--input-size S` or `HxW` on the command line (inspect, bench), checked as data.image_size is."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from toolkit.cli import main
from toolkit.cli.image_size_option import IMAGE_SIZE


@pytest.mark.parametrize("text, size", [("32", 32), ("96x160", (96, 160)), ("40X40", 40)])
def test_an_input_size_is_a_side_or_height_by_width(text, size):
    assert IMAGE_SIZE.convert(text, None, None) == size


@pytest.mark.parametrize("text, why", [("96x160x3", "not 3 values"), ("0", "from 8 to 1024"),
                                       ("wide", "not a number"), ("96x", "not a number")])
def test_a_bad_input_size_names_what_is_wrong(text, why):
    with pytest.raises(click.BadParameter, match=why):
        IMAGE_SIZE.convert(text, None, None)


def test_inspect_and_bench_refuse_a_bad_input_size_as_a_usage_error():
    for command in (["inspect", "--model", "resnet20"], ["bench", "--model", "model.onnx"]):
        refused = CliRunner().invoke(main, [*command, "--input-size", "24x40x3"])
        assert refused.exit_code == 2 and "--input-size" in refused.output and "not 3 values" in refused.output


@pytest.mark.slow
def test_inspect_builds_a_model_at_height_by_width():
    result = CliRunner().invoke(main, ["inspect", "--model", "resnet20", "--input-size", "24x40", "--num-classes",
                                       "4"])
    assert result.exit_code in (0, 1), result.output  # 1: not prunable; the shape is what is tested here
    assert "resnet20 at 24x40" in result.output
