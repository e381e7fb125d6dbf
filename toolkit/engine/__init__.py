"""TensorRT engines: the version-dependent decisions (pure functions) and the builders that need a GPU."""
