"""Old import path of `toolkit.run.pipeline` (kept for one release)."""

from toolkit.run.pipeline import Runner as Pipeline, RunResult, run_recipe  # noqa: F401  (Runner was Pipeline)
