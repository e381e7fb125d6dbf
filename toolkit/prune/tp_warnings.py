"""Torch-Pruning's own warnings, said once in the toolkit's words instead of printed raw on every graph build."""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# torch_pruning/dependency/graph.py: "Unwrapped parameters detected: ['a.b', ...].\n Torch-Pruning will prune the
# last non-singleton dimension of these parameters. ..." (1.6). Matched loosely so a reworded version still maps.
UNWRAPPED = re.compile(r"Unwrapped parameters detected:\s*(\[.*?\])", re.DOTALL)


def unwrapped_note(names: list[str]) -> str:
    """The toolkit's line for Torch-Pruning's unwrapped-parameter warning about the parameters `names`."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"{len(names)} parameter(s) outside Conv/Linear/norm layers ({shown}): Torch-Pruning cuts them along "
            f"their last non-singleton dimension, and the toolkit cuts per-channel ones with their layer and mends "
            f"stored shapes after each step (docs/timm.md)")


def _names(listed: str) -> tuple[str, ...]:
    """Torch-Pruning's printed list (built from a set, so in any order) as sorted names."""
    try:
        return tuple(sorted(str(n) for n in ast.literal_eval(listed)))
    except (ValueError, SyntaxError):
        return (listed,)


@contextmanager
def torch_pruning_notes(say: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, Torch-Pruning's unwrapped-parameter warning goes to `say` once per distinct parameter
    list instead of being printed (a ratio search builds the graph dozens of times, each listing the names in
    another order).

    Only how a warning is shown changes (`warnings.showwarning`, put back when the block ends, also when it
    raises): the filters stay the user's, so an ignored warning is never shown or said, an `error` filter
    raises where the warning is issued, and every other warning is shown at once, as it would have been."""
    shown_before = warnings.showwarning
    said: set[tuple[str, ...]] = set()

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - showwarning's signature
        match = UNWRAPPED.search(str(message))
        if match is None:
            return shown_before(message, category, filename, lineno, file, line)
        names = _names(match.group(1))
        if names not in said:
            said.add(names)
            say(unwrapped_note(list(names)))
        return None

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown_before
