"""Old import path of `toolkit.config` (kept for one release)."""

from toolkit.config import *  # noqa: F401,F403
