"""Images dropped while streaming: recorded once, sent to the run's log, or fatal with `on_bad_file: error`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from toolkit.errors import DataError


@dataclass(frozen=True)
class Dropped:
    """What a DataLoader worker returns in place of an image it could not use."""

    path: str
    reason: str


@dataclass
class StreamDrops:
    """Files that a streaming data set's workers could not decode (found after the scan).

    `strict` (data.on_bad_file: error) raises DataError naming the file at the first drop; otherwise each
    file is recorded once and passed to `sink` (the pipeline points it at the run's log.txt).
    """

    root: str = ""
    strict: bool = False
    found: dict[str, str] = field(default_factory=dict)
    sink: Callable[[str, str], None] | None = None

    def record(self, drops: list[Dropped]) -> None:
        """Record the drops of one batch; raises DataError when strict."""
        for drop in drops:
            if drop.path in self.found:
                continue
            self.found[drop.path] = drop.reason
            if self.strict:
                raise DataError(f"{self.root or drop.path}: unreadable image found while streaming "
                                f"(data.on_bad_file: error):\n    {drop.path}: {drop.reason}")
            if self.sink is not None:
                self.sink(drop.path, drop.reason)
