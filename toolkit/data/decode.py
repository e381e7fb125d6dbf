"""Decoding image files robustly: any mode to RGB (or grayscale), broken files reported instead of crashing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from toolkit.config import InputShape

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


MAX_PIXELS = 64 * 1024 * 1024  # larger images are refused before decoding (decompression bombs)
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


def open_rgb_checked(path: Path):
    """Open an image as 8-bit RGB; returns (image, None), or (None, why it cannot be used).

    Grayscale, CMYK, RGBA and palette images are converted; 16-bit grayscale is scaled to 8 bits and a
    float image with values in [0, 1] is scaled by 255 (`convert("RGB")` would clip both to white or
    black). Other high-depth images, and images over MAX_PIXELS (decompression bombs), are refused.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                return None, (f"too large: {image.width}x{image.height} pixels (limit {MAX_PIXELS}; "
                              f"a decompression bomb or an image to downscale first)")
            image.load()
            if image.mode in SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
                return _high_depth_to_rgb(image)
            if image.mode == "RGBA" or (image.mode == "P" and "transparency" in image.info):
                background = Image.new("RGB", image.size, (0, 0, 0))
                background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
                return background, None
            return image.convert("RGB"), None
    except Image.DecompressionBombError as exc:  # not an OSError
        return None, f"decompression bomb: {exc}"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError) as exc:
        return None, f"cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})"


def _high_depth_to_rgb(image):
    """16-bit and float grayscale scaled to 8 bits, or (None, reason) where the range is unknown."""
    from PIL import Image

    values = np.asarray(image)
    if image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and image.format == "PNG"):
        if values.size and (values.min() < 0 or values.max() > 65535):
            return None, f"unsupported: {image.mode} values outside 0..65535"
        scaled = (values.astype(np.uint32) * 255 + 32767) // 65535
    elif image.mode == "F":
        if not np.isfinite(values).all():
            return None, "unsupported: a float image with NaN or infinite values"
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            return None, "unsupported: a float image with values outside [0, 1] (its range is unknown)"
        scaled = np.rint(values * 255.0)
    else:
        return None, f"unsupported: {image.mode} (32-bit integer) image; convert it to 8 or 16 bits per channel"
    return Image.fromarray(scaled.astype(np.uint8)).convert("RGB"), None


def header_problem(path: Path) -> str | None:
    """Why a file cannot be used, judged from its header without decoding pixels; None when it looks usable.

    Used when a data set streams from disk, so bad files are listed at scan time as they are for an
    in-memory set: unidentifiable or truncated headers, images over MAX_PIXELS (decompression bombs) and
    32-bit integer images are refused with the same reasons `open_rgb_checked` gives. `verify()` checks
    PNG chunk checksums without decompressing; damage found only by decoding (a JPEG cut in its scan
    data, a float image out of range) is caught by the worker that decodes it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                return (f"too large: {image.width}x{image.height} pixels (limit {MAX_PIXELS}; "
                        f"a decompression bomb or an image to downscale first)")
            if image.mode == "I" and image.format != "PNG":
                return f"unsupported: {image.mode} (32-bit integer) image; convert it to 8 or 16 bits per channel"
            image.verify()
    except Image.DecompressionBombError as exc:  # not an OSError
        return f"decompression bomb: {exc}"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError) as exc:
        return f"cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def open_rgb(path: Path):
    """Open an image as 8-bit RGB (see open_rgb_checked); None when it cannot be used."""
    return open_rgb_checked(path)[0]


def open_image_checked(path: Path, channels: int = 3):
    """`open_rgb_checked`, as 8-bit grayscale ('L', ITU-R 601 luma) when `channels` is 1.

    A grayscale file goes through RGB and back unchanged: equal R, G and B give the same luma."""
    image, why = open_rgb_checked(path)
    return (image.convert("L") if image is not None and channels == 1 else image), why


def fit(image, height: int, width: int):
    """A PIL image resized (bilinear, aspect kept) to cover height x width pixels, then centre-cropped to them."""
    from PIL import Image

    if image.size == (width, height):
        return image
    w, h = image.size
    scale = max(width / w, height / h)
    image = image.resize((max(width, round(w * scale)), max(height, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = image.size
    left, top = (w - width) // 2, (h - height) // 2
    return image.crop((left, top, left + width, top + height))


def decode_to_tensor(files: list[Path], shape: InputShape, threads: int = 4) -> tuple[torch.Tensor, list[int]]:
    """Decode files to a uint8 (N, C, H, W) tensor of `shape` (resized, centre-cropped); returns it and the
    failed indices."""
    tensor, failed = decode_with_reasons(files, shape, threads)
    return tensor, [i for i, _ in failed]


def decode_with_reasons(files: list[Path], shape: InputShape,
                        threads: int = 4) -> tuple[torch.Tensor, list[tuple[int, str]]]:
    """Like decode_to_tensor, with (index, reason) for each file that could not be used."""

    def one(path: Path) -> np.ndarray | str:
        image, why = open_image_checked(path, shape.channels)
        if image is None:
            return why or "cannot be decoded"
        pixels = np.asarray(fit(image, shape.height, shape.width), dtype=np.uint8)
        return pixels[:, :, None] if pixels.ndim == 2 else pixels  # 'L' decodes to (H, W): one channel

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        arrays = list(pool.map(one, files, chunksize=256))
    failed = [(i, a) for i, a in enumerate(arrays) if isinstance(a, str)]
    good = [a for a in arrays if not isinstance(a, str)]
    if not good:
        return torch.empty((0, *shape), dtype=torch.uint8), failed
    stacked = torch.from_numpy(np.stack(good)).permute(0, 3, 1, 2).contiguous()
    return stacked, failed
