"""The run folder: runs/<name>/NN-<stage>/{config.json, metrics.json, model files, log.txt} + run.json.

A stage works in a hidden `.NN-<stage>.partial/` folder (checkpoints live there, so an interrupted
stage resumes) and is renamed into place only when complete: a visible stage folder is always whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from toolkit.fsutil import atomic_write_json, read_json, strict_json
from toolkit.layout import (
    CHECKPOINT_SUFFIX,
    KEY_FILE,
    METRICS,
    RUN,
    SEAL,
    STAGE_DIR,
    metrics_seal,
    safe_name,
    stage_problem,
    written_by_toolkit,
)
from toolkit.records import HAS_MODEL, metrics_document, read_metrics, run_document
from toolkit.run.folder_safety import check_no_links, check_run_folder


def write_metrics(directory: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write a stage's metrics.json atomically, checked against toolkit.records.StageMetrics and sealed
    (toolkit.layout.SEAL); returns what was written (`metrics` with `format_version` and the seal).
    Raises toolkit.records.RecordError when it does not fit."""
    document = strict_json({key: value for key, value in metrics_document(metrics).items() if key != SEAL})
    document[SEAL] = metrics_seal(document)
    atomic_write_json(Path(directory) / METRICS, document)
    return document


def _drop_temporaries(directory: Path) -> None:
    """Remove half-written temporary files left by a killed process (atomic writes never left anything else)."""
    for tmp in directory.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


class RunFolder:
    """Paths and atomic state changes inside one run folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def stage_dir(self, index: int, name: str) -> Path:
        """The final folder of a stage."""
        return self.root / f"{index:02d}-{name}"

    def partial_dir(self, index: int, name: str) -> Path:
        """The working folder of a stage that has not finished."""
        return self.root / f".{index:02d}-{name}.partial"

    def read_metrics(self, directory: Path) -> dict[str, Any] | None:
        """A stage folder's metrics.json (any format version), or None when missing, unreadable or not an
        object; values that do not fit toolkit.records.StageMetrics (an unknown status) are left out."""
        try:
            record = read_metrics(read_json(directory / METRICS), sections=False)
        except ValueError:
            return None
        return record.as_dict() if record is not None else None

    def cached(self, index: int, name: str, key: str) -> dict[str, Any] | None:
        """Metrics of a complete stage folder with this key that can be trusted as written (sealed metrics,
        every recorded file unchanged: toolkit.layout.stage_problem), else None."""
        directory = self.stage_dir(index, name)
        if directory.is_symlink():
            return None
        try:
            raw = read_json(directory / METRICS)
            record = read_metrics(raw, sections=False)  # parsed once: the seal is checked on the same bytes
        except ValueError:
            return None
        metrics = record.as_dict() if record is not None else None
        if not metrics or metrics.get("key") != key or metrics.get("status") not in HAS_MODEL:
            return None
        model = metrics.get("model")
        if not isinstance(model, dict) or not isinstance(model.get("format"), str):
            return None  # an edited metrics.json: recompute rather than guess
        model_file = model.get("file")
        if model_file and (not safe_name(model_file) or not (directory / model_file).is_file()):
            return None
        if stage_problem(directory, raw) is not None:
            return None  # edited numbers or a changed file since it was written: recompute rather than trust it
        return metrics

    def begin(self, index: int, name: str, key: str, fresh: bool = False) -> Path:
        """Create (or reuse, when its key matches and not `fresh`) the partial folder of a stage."""
        partial = self.partial_dir(index, name)
        try:
            same = not fresh and read_json(partial / KEY_FILE).get("key") == key
        except (ValueError, AttributeError):
            same = False
        if partial.exists() and not same:
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
        _drop_temporaries(partial)
        if not same:
            atomic_write_json(partial / KEY_FILE, {"key": key})
        return partial

    def finalize(self, index: int, name: str) -> Path:
        """Drop checkpoints, then swap the partial folder into place (the old result goes in one rename)."""
        partial, final = self.partial_dir(index, name), self.stage_dir(index, name)
        for leftover in list(partial.glob(f"*{CHECKPOINT_SUFFIX}")) + [partial / KEY_FILE]:
            leftover.unlink(missing_ok=True)
        _drop_temporaries(partial)
        trash = self.root / f".{index:02d}-{name}.trash"
        for existing in (trash, final):
            if (existing.exists() or existing.is_symlink()) and not written_by_toolkit(existing):
                from toolkit.errors import UserInputError

                raise UserInputError(f"{existing} is in the way and was not written by the toolkit; move it "
                                     f"elsewhere (compress never removes files it did not write)")
        if trash.exists():
            shutil.rmtree(trash)
        if final.exists():
            final.rename(trash)
        partial.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
        return final

    def cleanup(self, plan: list[tuple[int, str]]) -> list[str]:
        """Remove stage folders that are not in this recipe's plan (and leftover trash); return their names."""
        keep = {f"{i:02d}-{n}" for i, n in plan}
        removed = []
        if not self.root.is_dir():
            return removed
        for entry in sorted(self.root.iterdir()):
            match = STAGE_DIR.match(entry.name)
            if not match or not entry.is_dir() or entry.is_symlink():
                continue
            base = f"{match.group(1)}-{match.group(2)}"
            if (match.group(3) == ".trash" or base not in keep) and written_by_toolkit(entry):
                shutil.rmtree(entry, ignore_errors=True)  # only folders the toolkit provably wrote
                removed.append(entry.name)
        return removed

    def prepare(self, plan: list[tuple[int, str]]) -> list[str]:
        """Check the folder is this toolkit's and has no links out, then remove stale stage folders."""
        check_run_folder(self.root)
        check_no_links(self.root)
        return self.cleanup(plan)

    def write_run(self, data: dict[str, Any]) -> None:
        """Write run.json atomically, checked against toolkit.records.RunRecord and stamped with its format
        version (raises toolkit.records.RecordError, a ValueError, when `data` does not fit: a bug)."""
        atomic_write_json(self.root / RUN, run_document(data))

    def read_run(self) -> dict[str, Any] | None:
        """run.json, or None."""
        try:
            return read_json(self.root / RUN)
        except ValueError:
            return None
