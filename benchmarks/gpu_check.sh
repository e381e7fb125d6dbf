#!/usr/bin/env bash
# GPU truth in one step, on a machine with an NVIDIA GPU and torch (CUDA build) already installed.
# NOT RUN YET: no NVIDIA GPU was at hand when this was written; nothing GPU here is verified.
#
#   bash benchmarks/gpu_check.sh --make-wheelhouse   # here, with network: wheels the GPU machine may lack
#   bash benchmarks/gpu_check.sh [OUT_DIR]           # there: install offline-first, run, write latencies
#
# The wheelhouse (.whl/, git-ignored) holds the installed closure of the project's dependencies except torch,
# torchvision and the CUDA wheels; its size is printed. Carry only what the GPU machine lacks (the lent machine
# takes 64 MiB in all). Built here on 2026-11-29 for CPython 3.12 manylinux x86_64 (not installed or run there):
# 61 wheels, 213 MB, of which openvino 57, scipy 34, onnxruntime 27, numpy 16 MB: the whole set does not fit
# in one carry, so take the subset `pip install` there reports missing. TensorRT's own wheels are far larger
# than that, so there the engine stage is skipped with its reason unless TensorRT is already installed.
# Budget: under 8 minutes end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl

if [[ "${1:-}" == "--make-wheelhouse" ]]; then
  mkdir -p "$WHEELS"
  # The installed closure of the project's dependencies, pinned, without torch, torchvision, triton and the
  # CUDA wheels (the GPU machine has its own torch build). Whole names only: torch-pruning is needed there.
  python -m benchmarks.wheelhouse > "$WHEELS/requirements.txt"
  # Wheels for the GPU machine's interpreter, not this one's: CPython 3.12 on manylinux x86_64.
  # One package at a time, so that a package without a binary wheel does not abort the rest: such a package
  # (cppimport is one: sdist only, pure Python) is built into a wheel here with `pip wheel`; a package with
  # compiled code and no matching wheel is listed as missing (the install there then fails on it, loudly).
  TARGET=(--python-version 3.12 --implementation cp --abi cp312 --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
          --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_34_x86_64)
  missing=()
  while read -r req; do
    [[ -z "$req" ]] && continue
    if pip download -q --no-deps --only-binary=:all: "${TARGET[@]}" -d "$WHEELS" "$req" 2>/dev/null; then
      continue
    fi
    built=$(mktemp -d)
    if pip wheel -q --no-deps --no-binary=:all: -w "$built" "$req" 2>/dev/null && \
        compgen -G "$built/*-py3-none-any.whl" >/dev/null; then  # a compiled one would be for this Python
      mv "$built"/*-py3-none-any.whl "$WHEELS"/
      echo "built from its sdist (pure Python): $req"
    else
      missing+=("$req")
    fi
    rm -rf "$built"
  done < "$WHEELS/requirements.txt"
  [[ ${#missing[@]} -eq 0 ]] || echo "NO WHEEL for CPython 3.12 manylinux x86_64: ${missing[*]}" >&2
  echo "wheelhouse: $(ls "$WHEELS"/*.whl | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1) (the lent machine takes 64 MiB)"
  [[ ${#missing[@]} -eq 0 ]]
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
