"""Old import path of `toolkit.run.pipeline` (kept for one release)."""

from toolkit.run.pipeline import Pipeline, RunResult, run_recipe  # noqa: F401
