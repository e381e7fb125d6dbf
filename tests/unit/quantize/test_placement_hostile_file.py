"""`compress inspect --model FILE.onnx` treats the file as hostile: whatever it declares or holds, the answer is
one line naming the file and the problem with exit 2 (exit 1 stays "a placement rule is broken"), never a
traceback, and nothing is allocated or read past what the file really holds."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from toolkit.cli.main import main


def _init(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _declared(name, dims, data_type=TensorProto.FLOAT, raw=b"", **fields):
    """A tensor whose shape says one thing and whose data may say another."""
    tensor = TensorProto(name=name, data_type=data_type, dims=dims, raw_data=raw)
    for field, values in fields.items():
        getattr(tensor, field).extend(values)
    return tensor


def _external(name, location, offset=0, length=16, dims=(4,)):
    tensor = _declared(name, list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _weight_conv(scale, zero=None, weight=None, axis=0):
    """int8 weight -> DequantizeLinear(scale, zero) -> Conv: the nodes and initializers."""
    weight = _init("w", np.ones((4, 4, 1, 1), np.int8)) if weight is None else weight
    inputs = ["w", "ws"] + (["wz"] if zero is not None else [])
    nodes = [helper.make_node("DequantizeLinear", inputs, ["wdq"], name="dq", axis=axis),
             helper.make_node("Conv", ["x", "wdq"], ["y"], name="conv")]
    return nodes, [weight, scale] + ([zero] if zero is not None else [])


def _save(folder, nodes, inits, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = folder / name
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString())
    return path


def _good(tmp_path):
    return _save(tmp_path, *_weight_conv(_init("ws", np.full(4, 0.1, np.float32)),
                                         _init("wz", np.zeros(4, np.int8))))


def _inspect(path, *extra):
    return CliRunner().invoke(main, ["inspect", "--model", str(path), *extra])


def _assert_refused(result, path, *fragments):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.strip()
    assert "Traceback" not in text and "\n" not in text and text.startswith("error: --model: ")
    assert str(path) in text and all(f in text for f in fragments), text


def _relu_chain(order):
    """Two Relus and a DQ; `order` lists which tensor each Relu reads and makes."""
    nodes = [helper.make_node("Relu", [src], [dst], name=f"r{i}") for i, (src, dst) in enumerate(order)]
    return nodes + [helper.make_node("DequantizeLinear", [order[-1][1], "s"], ["y"], name="dq")]


GRAPHS = {  # name: (a function of the folder giving (nodes, initializers), fragments of the message)
    "scale_declaring_2_40_values": (lambda d: _weight_conv(_declared("ws", [2 ** 40])), ("'ws'", "1,099,511,627,776")),
    "scale_declaring_2_40_with_a_few_bytes": (
        lambda d: _weight_conv(_declared("ws", [2 ** 20, 2 ** 20], raw=b"\0" * 16)), ("'ws'",)),
    "zero_point_declaring_too_many_typed": (
        lambda d: _weight_conv(_init("ws", np.full(4, 0.1, np.float32)),
                               _declared("wz", [2 ** 33], TensorProto.INT8, int32_data=[0] * 4)), ("'wz'",)),
    "scale_bytes_not_its_shape": (lambda d: _weight_conv(_declared("ws", [4], raw=b"\0" * 3)), ("'ws'",)),
    "weight_declaring_more_than_it_holds": (
        lambda d: _weight_conv(_init("ws", np.full(4, 0.1, np.float32)),
                               weight=_declared("w", [4, 4, 2 ** 20, 2 ** 20], TensorProto.INT8, raw=b"\1" * 16)),
        ("'w'",)),
    "negative_dimension": (lambda d: _weight_conv(_declared("ws", [-4], raw=b"")), ("'ws'", "shape")),
    "unknown_data_type": (lambda d: _weight_conv(_declared("ws", [1], 999, raw=b"\0" * 4)), ("'ws'", "999")),
    "per_channel_scale_on_a_scalar_weight": (
        lambda d: _weight_conv(_init("ws", np.full(4, 0.1, np.float32)), weight=_init("w", np.int8(1))),
        ("'dq'", "scalar weight")),
    "scale_axis_the_weight_lacks": (lambda d: _weight_conv(_init("ws", np.full(4, 0.1, np.float32)), axis=9),
                                    ("'dq'", "axis 9")),
    "scale_count_not_the_channel_count": (lambda d: _weight_conv(_init("ws", np.full(3, 0.1, np.float32))),
                                          ("'dq'", "3 scales for 4 channels")),
    "missing_external_data_file": (lambda d: _weight_conv(_external("ws", "missing.bin")), ("'ws'", "missing")),
    "external_data_outside_the_folder": (lambda d: _weight_conv(_external("ws", "../outside.bin")),
                                         ("'ws'", "outside")),
    "external_data_at_an_absolute_path": (lambda d: _weight_conv(_external("ws", "/etc/hostname")),
                                          ("'ws'", "outside")),
    "external_data_past_its_file_end": (lambda d: _weight_conv(_external("ws", "data.bin", offset=8)),
                                        ("'ws'", "data.bin")),
    "external_data_longer_than_declared": (lambda d: _weight_conv(_external("ws", "data.bin", length=2 ** 40)),
                                           ("'ws'",)),
    "external_data_through_a_link_out": (lambda d: _weight_conv(_external("ws", "link.bin")), ("'ws'", "outside")),
    "cycle": (lambda d: (_relu_chain([("b", "a"), ("a", "b")]), [_init("s", np.float32(0.1))]), ("cycle",)),
    "node_reading_itself": (lambda d: (_relu_chain([("a", "a")]), [_init("s", np.float32(0.1))]), ("'r0'",)),
    "qdq_cycle": (lambda d: ([helper.make_node("QuantizeLinear", ["d", "s"], ["q"], name="q"),
                              helper.make_node("DequantizeLinear", ["q", "s"], ["d"], name="dq"),
                              helper.make_node("Relu", ["d"], ["y"], name="relu")], [_init("s", np.float32(0.1))]),
                  ("'q'", "cycle")),
    "tensor_made_twice": (lambda d: (_relu_chain([("x", "a"), ("x", "a")]), [_init("s", np.float32(0.1))]),
                          ("'a'", "two nodes")),
    "dequantize_without_inputs": (lambda d: ([helper.make_node("DequantizeLinear", [], ["y"], name="dq")], []),
                                  ("'dq'", "0 inputs")),
    "quantize_with_one_input": (lambda d: ([helper.make_node("QuantizeLinear", ["x"], ["y"], name="q")], []),
                                ("'q'", "1 inputs")),
    "constant_without_output": (lambda d: ([helper.make_node("Constant", [], [], name="c",
                                                             value=_init("", np.float32(1))),
                                            helper.make_node("Relu", ["x"], ["y"], name="r")], []), ("'c'",)),
}


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_a_graph_that_cannot_be_what_it_declares_exits_2_in_one_line(tmp_path, monkeypatch, case):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "data.bin").write_bytes(b"\0" * 16)
    (tmp_path / "outside.bin").write_bytes(b"\0" * 16)
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    monkeypatch.chdir(folder)  # external data is never looked up from the working directory
    build, fragments = GRAPHS[case]
    path = _save(folder, *build(folder))
    _assert_refused(_inspect(path), path, *fragments)
    _assert_refused(_inspect(path, "--json"), path, *fragments)


@pytest.mark.parametrize("content", [b"", b"\x08\x07" + os.urandom(64), None, b"name: a recipe\nstages: []\n"],
                         ids=["empty", "garbage", "truncated", "yaml"])
def test_a_file_that_is_not_an_onnx_model_exits_2_in_one_line(tmp_path, content):
    path = tmp_path / "m.onnx"
    good = _good(tmp_path).read_bytes()
    path.write_bytes(good[: len(good) // 2] if content is None else content)
    _assert_refused(_inspect(path), path, "not an ONNX model")


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from toolkit.quantize import onnx_input

    path = _good(tmp_path)
    monkeypatch.setattr(onnx_input, "MAX_FILE_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(onnx_input.os, "fdopen", lambda *a, **k: pytest.fail("read past the size check"))
    _assert_refused(_inspect(path), path, "bytes")


def test_a_graph_with_too_many_nodes_is_refused(tmp_path, monkeypatch):
    from toolkit.quantize import onnx_input

    monkeypatch.setattr(onnx_input, "MAX_NODES", 50)
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"r{i}") for i in range(60)]
    path = _save(tmp_path, nodes + [helper.make_node("Relu", ["t60"], ["y"])], [])
    _assert_refused(_inspect(path), path, "61 nodes")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_and_a_folder_named_onnx_are_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")
    (tmp_path / "folder.onnx").mkdir()
    for name in ("pipe.onnx", "folder.onnx"):
        _assert_refused(_inspect(tmp_path / name), tmp_path / name, "not a regular file")


def test_valid_external_data_is_read_from_the_model_folder_not_the_working_directory(tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "model", tmp_path / "cwd"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "zp.bin").write_bytes(np.full(4, 3, np.int8).tobytes())
    (elsewhere / "zp.bin").write_bytes(np.zeros(4, np.int8).tobytes())
    zero = _external("wz", "zp.bin", length=4)
    zero.data_type = TensorProto.INT8
    path = _save(folder, *_weight_conv(_init("ws", np.full(4, 0.1, np.float32)), zero))
    monkeypatch.chdir(elsewhere)
    result = _inspect(path)
    assert result.exit_code == 1 and "nonzero_zero_point" in result.output  # the model folder's 3s, not the 0s


def test_a_sound_file_still_passes_and_names_from_the_file_cannot_rewrite_the_terminal(tmp_path):
    assert _inspect(_good(tmp_path)).exit_code == 0
    nodes, inits = _weight_conv(_init("ws", np.float32(0.1)))  # per-tensor: a finding, exit 1
    nodes[1].name = "conv\x1b[2J"
    result = _inspect(_save(tmp_path, nodes, inits))
    assert result.exit_code == 1 and "\x1b" not in result.output and "conv\\x1b[2J" in result.output


def test_inspect_help_documents_the_exit_codes():
    text = " ".join(CliRunner().invoke(main, ["inspect", "--help"]).output.split())
    assert "Exit codes: 0 ok; 1 " in text and "; 2 bad input" in text and "FILE.onnx that is missing" in text


def test_an_onnx_file_given_in_the_recipe_place_points_to_model(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\xff\xff")
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"is an ONNX file, not a recipe: compress inspect --model {path}" in " ".join(result.output.split())
