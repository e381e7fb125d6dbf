"""The pinned requirements a GPU machine needs beside its own torch: the installed closure of the project's
dependencies, minus torch, torchvision, triton and the CUDA wheels. Used by gpu_check.sh --make-wheelhouse.

    python -m benchmarks.wheelhouse > .whl/requirements.txt
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

# Whole names only: `torch-pruning` and `nvidia-modelopt`/`nvidia-ml-py` must travel; torch and CUDA must not.
SKIP = re.compile(r"^(torch|torchvision|triton|nvidia-(?!ml-py$|modelopt$).+|cuda-.+)$")
BUILD = ("setuptools", "wheel")  # `pip install --no-build-isolation -e .` there needs the build backend


def skipped(name: str) -> bool:
    """Whether a (normalized) distribution name is left to the GPU machine's own install."""
    return SKIP.match(name) is not None


def closure(requirements: list[str]) -> dict[str, str]:
    """{normalized name: installed version} for `requirements` and everything they require, minus skipped()
    names; extras' requirements are left out, names not installed here are ignored."""
    todo, seen = list(requirements), {}
    while todo:
        req = todo.pop()
        if ";" in req and "extra ==" in req:
            continue
        name = re.split(r"[ <>=!~;\[(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen or skipped(name):
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        seen[name] = dist.version
        todo += dist.requires or []
    return seen


def main() -> None:
    deps = tomllib.loads(Path("pyproject.toml").read_text())["project"]["dependencies"]
    pins = closure(deps + list(BUILD))
    print("\n".join(f"{n}=={v}" for n, v in sorted(pins.items())))


if __name__ == "__main__":
    main()
