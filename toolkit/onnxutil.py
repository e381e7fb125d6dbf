"""Old import path of `toolkit.export.onnx` (kept for one release)."""

from toolkit.export.onnx import *  # noqa: F401,F403
