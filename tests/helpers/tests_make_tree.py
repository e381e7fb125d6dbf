"""A tiny ImageFolder tree for tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def make_tree(root, classes=("cat", "dog"), per_class=6, size=12, val="val", mode="RGB"):
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), (val, max(2, per_class // 2))):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).convert(mode).save(folder / f"{i}.png")
    return root
