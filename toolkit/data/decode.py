"""Decoding image files robustly: any mode to RGB, broken files reported instead of crashing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def open_rgb(path: Path):
    """Open an image as RGB (grayscale, CMYK, RGBA, palette converted); None when it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "RGBA" or (image.mode == "P" and "transparency" in image.info):
                background = Image.new("RGB", image.size, (0, 0, 0))
                background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
                return background
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None


def decode_to_tensor(files: list[Path], image_size: int, threads: int = 4) -> tuple[torch.Tensor, list[int]]:
    """Decode files to a uint8 (N,3,S,S) tensor (resized, centre-cropped); returns it and the failed indices."""
    from PIL import Image

    def one(path: Path) -> np.ndarray | None:
        image = open_rgb(path)
        if image is None:
            return None
        if image.size != (image_size, image_size):
            w, h = image.size
            scale = image_size / min(w, h)
            image = image.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))),
                                 Image.Resampling.BILINEAR)
            w, h = image.size
            left, top = (w - image_size) // 2, (h - image_size) // 2
            image = image.crop((left, top, left + image_size, top + image_size))
        return np.asarray(image, dtype=np.uint8)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        arrays = list(pool.map(one, files, chunksize=256))
    failed = [i for i, a in enumerate(arrays) if a is None]
    good = [a for a in arrays if a is not None]
    if not good:
        return torch.empty((0, 3, image_size, image_size), dtype=torch.uint8), failed
    stacked = torch.from_numpy(np.stack(good)).permute(0, 3, 1, 2).contiguous()
    return stacked, failed
