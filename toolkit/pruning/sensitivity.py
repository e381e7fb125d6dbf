"""Old import path of `toolkit.prune.sensitivity` (kept for one release)."""

from toolkit.prune.sensitivity import *  # noqa: F401,F403
