#!/usr/bin/env bash
# GPU truth in one step, on a machine with an NVIDIA GPU and torch (CUDA build) already installed.
# NOT RUN YET: no NVIDIA GPU was at hand when this was written; nothing GPU here is verified.
#
#   bash benchmarks/gpu_check.sh --make-wheelhouse   # here, with network: wheels the GPU machine may lack
#   bash benchmarks/gpu_check.sh [OUT_DIR]           # there: install offline-first, run, write latencies
#
# The wheelhouse (.whl/, git-ignored) holds the installed closure of the project's dependencies except torch,
# torchvision and the CUDA wheels; its size is printed. Carry only what the GPU machine lacks (the lent machine
# takes 64 MiB in all). TensorRT's own wheels are far larger than that, so there the engine stage is skipped
# with its reason unless TensorRT is already installed. Budget: under 8 minutes end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl

if [[ "${1:-}" == "--make-wheelhouse" ]]; then
  mkdir -p "$WHEELS"
  # The installed closure of the project's dependencies, pinned, without torch and the CUDA wheels
  # (the GPU machine has its own torch build).
  python - <<'PY' > "$WHEELS/requirements.txt"
import re, tomllib
from importlib.metadata import distribution, PackageNotFoundError
skip = re.compile(r"^(torch|torchvision|triton|nvidia-(?!ml-py|modelopt)|cuda-)")
todo = [d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]]
seen = {}
while todo:
    req = todo.pop()
    if ";" in req and "extra ==" in req:
        continue
    name = re.split(r"[ <>=!~;\[(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")
    if name in seen or skip.match(name):
        continue
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        continue
    seen[name] = dist.version
    todo += dist.requires or []
print("\n".join(f"{n}=={v}" for n, v in sorted(seen.items())))
PY
  pip download --no-deps --only-binary=:all: -d "$WHEELS" -r "$WHEELS/requirements.txt" setuptools wheel
  du -sh "$WHEELS"
  exit 0
fi

OUT="${1:-benchmarks/work/gpu_check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"
python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
if [[ -d "$WHEELS" ]]; then
  pip install --no-index --find-links "$WHEELS" --no-build-isolation -e . 2>&1 | tail -n 3
else
  pip install -e . 2>&1 | tail -n 3
fi
timeout 420 python -m benchmarks.gpu_check --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
echo "latencies: $OUT/gpu_check.md (review, then copy to benchmarks/results/)"
