"""'module:function' model factories, from an installed module or from a file beside the recipe.

A user keeps `user_models.py` beside `recipe.yaml` and writes `arch: "user_models:build"`. The recipe's folder is
never put on sys.path (parsing a recipe leaves the process as it found it): when the module's file sits in the
folder (`model.code_dir`, set to the recipe's folder when parsing finds the file there), it is imported by its
path under a private module name made from the folder, so two recipes' `user_models.py` never collide and a
model rebuilt later in this process (a saved stage, a teacher) gets the same classes. Other processes rebuild
the model from its spec (a run's ranks and sweep workers parse the recipe; a saved model's structure.json keeps
`code_dir`), never by unpickling it. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from toolkit.errors import UserInputError
from toolkit.registry import did_you_mean

if TYPE_CHECKING:
    from toolkit.config import ModelSpec


def file_beside(module: str, folder: Path) -> Path | None:
    """The file of dotted `module`'s top level in `folder` (`top.py`, or `top/__init__.py`), or None."""
    top = module.partition(".")[0]
    for candidate in (Path(folder) / f"{top}.py", Path(folder) / top / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def code_dir_for(arch: str, base_dir: Path) -> Path | None:
    """`base_dir` (resolved) when `arch` is 'module:function' and the module's file is there, else None."""
    module, sep, _ = arch.partition(":")
    if not sep or not module or arch.startswith("timm:"):
        return None
    return Path(base_dir).resolve() if file_beside(module, base_dir) else None


def _private_name(folder: Path, top: str) -> str:
    digest = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]
    return f"_toolkit_user_code_{digest}_{top}"


def import_beside(module: str, folder: Path) -> ModuleType:
    """Import dotted `module` from the file in `folder` by its path (sys.path is not touched).

    The top level is registered in sys.modules under a private name (a dataclass or pickle in this process looks
    its module up there); a submodule of a package folder is imported through it. Raises ImportError when the
    file is missing, and whatever the module raises while it runs.
    """
    top, _, rest = module.partition(".")
    path = file_beside(module, folder)
    if path is None:
        raise ImportError(f"no {top}.py or {top}/__init__.py in {folder}")
    name = _private_name(folder, top)
    loaded = sys.modules.get(name)
    if loaded is None:
        package = [str(path.parent)] if path.name == "__init__.py" else None
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=package)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            sys.modules.pop(name, None)  # a broken file is tried again on the next build, not half-kept
            raise
    return importlib.import_module(f"{name}.{rest}") if rest else loaded


def load_factory(arch: str, code_dir: Path | None) -> Callable[..., Any]:
    """The function 'module:function' names: from `code_dir` when the module's file is there, else imported.

    Raises UserInputError naming the arch when the module cannot be imported or has no such function.
    """
    module_name, _, func_name = arch.partition(":")
    beside = code_dir is not None and file_beside(module_name, code_dir) is not None
    try:
        module = import_beside(module_name, code_dir) if beside else importlib.import_module(module_name)
    except ImportError as exc:
        hint = ""
        if beside and isinstance(exc, ModuleNotFoundError):
            hint = (f" ({module_name} is imported from {code_dir} by its path, and that folder is not on sys.path: "
                    f"make it a package, a folder with __init__.py and relative imports, for its own modules)")
        raise UserInputError(f"model.arch: cannot load '{arch}': {exc}{hint}") from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        where = f" ({file_beside(module_name, code_dir)})" if beside else ""
        public = [n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise UserInputError(f"model.arch: cannot load '{arch}': {module_name}{where} has no function "
                             f"'{func_name}'{did_you_mean(func_name, public)}")
    return factory


def resolve_code_dir(spec: ModelSpec, base_dir: Path) -> None:
    """Make `spec.code_dir` absolute (relative to `base_dir`, the recipe's folder), or set it to `base_dir` when
    the module of a 'module:function' arch sits there; in place."""
    if spec.code_dir is not None:
        if not Path(spec.code_dir).is_absolute():
            spec.code_dir = (Path(base_dir) / spec.code_dir).resolve()
    else:
        spec.code_dir = code_dir_for(spec.arch, base_dir)
