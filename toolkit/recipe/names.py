"""A recipe's model, data set and runtime names and its input paths, checked on the raw mapping so that these
problems are listed together with the schema's.

The name registries import no torch, and within `toolkit.models.names_only()` (`compress validate --schema-only`)
neither does checking a model name: one that only torchvision could know is left to the pre-flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.registry import UnknownNameError


def check_names(raw: dict[str, Any], base_dir: Path, check_paths: bool = True) -> list[tuple[str, str]]:
    """Check model, data set and runtime names and input paths (on raw values, so that these problems
    are reported together with schema problems elsewhere in the recipe)."""
    from toolkit.data import dataset_info
    from toolkit.fsutil import resolved_from
    from toolkit.models import check_arch
    from toolkit.recipe.file_bounds import path_problem
    from toolkit.runtimes import runtime_names

    problems: list[tuple[str, str]] = []
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    measure = raw.get("measure") if isinstance(raw.get("measure"), dict) else {}
    if isinstance(model.get("arch"), str):
        code_dir = base_dir / model["code_dir"] if isinstance(model.get("code_dir"), str) else base_dir
        arch_problem = check_arch(model["arch"], code_dir)
        if arch_problem:
            problems.append(("model.arch", arch_problem))
    if isinstance(model.get("weights"), str) and isinstance(model.get("arch"), str) and (
            ":" in model["arch"] or model["arch"] in _own_models()):
        problems.append(("model.weights", f"weights name torchvision's pretrained files; '{model['arch']}' is not a "
                                          f"torchvision model: use model.checkpoint"))
    if check_paths and isinstance(model.get("code_dir"), str):
        problem = path_problem(base_dir / model["code_dir"], "folder")
        problems += [("model.code_dir", problem + resolved_from(model["code_dir"], base_dir))] if problem else []
    if check_paths and isinstance(model.get("checkpoint"), str):
        problem = path_problem(base_dir / model["checkpoint"], "file")
        problems += [("model.checkpoint", problem + resolved_from(model["checkpoint"], base_dir))] if problem else []
    dataset = data.get("dataset", "digits")
    if isinstance(dataset, str):
        try:
            info = dataset_info(dataset)
            root = data.get("root")
            if info.needs_root and root is None:
                problems.append(("data.root", f"the {dataset} data set needs a root folder"))
            elif check_paths and info.needs_root and isinstance(root, str) and not info.downloads:
                problem = path_problem(base_dir / root, "folder")
                if problem:
                    from toolkit.data.archives import unpack_hint

                    hint = resolved_from(root, base_dir) + unpack_hint(base_dir / root)
                    problems.append(("data.root", problem + hint))
        except UnknownNameError as exc:
            problems.append(("data.dataset", str(exc)))
    runtimes = measure.get("runtimes")
    if isinstance(runtimes, list):
        known = runtime_names()
        for i, name in enumerate(runtimes):
            if isinstance(name, str) and name not in known:
                problems.append((f"measure.runtimes[{i}]", str(UnknownNameError("runtime", name, known))))
    return problems


def _own_models() -> list[str]:
    from toolkit.models import model_names

    return model_names()
