"""A recipe plugin (`plugins: [crash_plugin]`) that registers 'crashing-cpu': SIGSEGV in its worker on INT8 files."""

from crashing_runtime import make

from toolkit.runtimes import register_runtime

register_runtime(make())
