"""Chart text is plain text: names from run folders (stage, peer, layer names) are drawn as written.

matplotlib reads a '$' pair in any label as mathtext, and a broken one ('$\\x') raises while the figure is
drawn, so one odd peer name would stop the whole report. Every chart function draws inside `plain_text`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def plain_text(draw: F) -> F:
    """Run `draw` with matplotlib's mathtext parsing off for the texts it creates (restored afterwards)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from matplotlib import rc_context

        with rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
