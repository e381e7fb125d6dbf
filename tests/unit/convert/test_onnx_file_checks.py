"""An ONNX file handed to the toolkit (`compress bench --model`, a run folder's model.onnx) is untrusted: a FIFO or a
folder named .onnx is refused at once, a checker message spanning lines becomes one line, and `bench --model`
reads the file with the same bounds as `compress inspect --model`."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from toolkit.artifacts import check_onnx_file
from toolkit.cli import main
from toolkit.errors import ArtifactError


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_a_fifo_named_onnx_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactError, match="not a regular file"):
        check_onnx_file(fifo)
    refused = CliRunner().invoke(main, ["bench", "--model", str(fifo)])
    assert refused.exit_code == 2 and "not a regular file" in refused.output, refused.output


def test_an_unsorted_graph_is_one_error_line(tmp_path):
    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])], "g",
                              [value("x", TensorProto.FLOAT, [4])], [value("a", TensorProto.FLOAT, [4])])
    path = tmp_path / "cycle.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(ArtifactError) as caught:
        check_onnx_file(path)
    assert "\n" not in str(caught.value) and "topologically sorted" in str(caught.value)
    refused = CliRunner().invoke(main, ["bench", "--model", str(path)])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "the graph has a cycle or is out of order" in " ".join(refused.output.split())
