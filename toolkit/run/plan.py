"""What a run walks through, shared by rank 0 and the ranks that follow it: the stage plan, the state that
flows from stage to stage, and the result. No private names cross between the runner and its followers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.artifacts import Model
from toolkit.context import EarlierStage
from toolkit.records import Record

if TYPE_CHECKING:
    from toolkit.run.stage_runner import StageOutcome


def stage_plan(stage_types: list[str], stage_names: list[str]) -> list[tuple[int, str]]:
    """(folder index, name) of every step: an `input` step 0 unless the first stage trains from scratch."""
    with_input = stage_types[0] != "train"
    return ([(0, "input")] if with_input else []) + [(i + 1, n) for i, n in enumerate(stage_names)]


@dataclass
class RunResult:
    """The outcome of a run: its folder, each stage's outcome and metrics, and the report path."""

    run_dir: Path
    stages: list[StageOutcome]
    status: str
    report_path: Path | None = None
    _loaders: dict[str, Callable[[], Model]] = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict[str, Record]:
        """metrics.json of each stage, by stage name, with attribute access (`.accuracy.top1`)."""
        return {s.name: Record(s.metrics) for s in self.stages}

    def model(self, name: str) -> Model:
        """Load the model a stage produced (a torch module or a model file)."""
        if name not in self._loaders:
            raise KeyError(f"no stage '{name}' in this run; stages: {', '.join(self._loaders)}")
        return self._loaders[name]()


@dataclass
class RunState:
    """What flows from one stage to the next during a run."""

    current: Model | None
    previous: Callable[[], Model]
    key: str
    outcomes: list[StageOutcome] = field(default_factory=list)
    loaders: dict[str, Callable[[], Model]] = field(default_factory=dict)
    earlier: list[EarlierStage] = field(default_factory=list)
