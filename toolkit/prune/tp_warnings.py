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
    """Catch the warnings raised inside the block: Torch-Pruning's unwrapped-parameter warning goes to `say` once
    per distinct parameter list (a ratio search builds the graph dozens of times); every other warning is
    re-issued unchanged after the block, once per distinct text and place, so nothing else is hidden. Also when
    the block raises."""
    pending: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                pending = list(caught)
    finally:
        _replay(pending, say)


def _replay(pending: list[warnings.WarningMessage], say: Callable[[str], None]) -> None:
    said: set[object] = set()
    for item in pending:
        match = UNWRAPPED.search(str(item.message))
        names = _names(match.group(1)) if match else ()
        key = names if match else (str(item.message), item.category, item.filename, item.lineno)
        if key in said:
            continue
        said.add(key)
        if match:
            say(unwrapped_note(list(names)))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno, source=item.source)
