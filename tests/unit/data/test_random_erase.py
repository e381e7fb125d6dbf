"""data.augment.erase: random erasing (Zhong et al.) blanks one rectangle per chosen image, in memory and streamed."""

from __future__ import annotations

import torch

from toolkit.config import AugmentSpec, DataSpec
from toolkit.data import build_data
from toolkit.data.images import random_erase

from tests_make_tree import make_tree  # noqa: E402  (tests/helpers is on sys.path)


def _one_rectangle_of_zeros(image: torch.Tensor) -> float:
    """The erased share of a (C, H, W) image of non-zero pixels; asserts the zeros form one full rectangle."""
    zero = (image == 0).all(dim=0)
    rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
    assert len(rows) and len(cols), "nothing was erased"
    box = zero[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert box.all(), "the erased pixels are not one rectangle"
    assert (image == 0).all(dim=0).eq((image == 0).any(dim=0)).all(), "channels were erased unevenly"
    return float(zero.float().mean())


def test_every_image_gets_its_own_rectangle_of_two_to_a_third_of_its_area_and_seeds_repeat():
    x = torch.rand(64, 3, 32, 32) + 0.1
    out = random_erase(x, 1.0, torch.Generator().manual_seed(0))
    shares = [_one_rectangle_of_zeros(image) for image in out]
    assert all(0.01 <= share <= 0.36 for share in shares)
    assert len({round(share, 4) for share in shares}) > 10  # per image, not one rectangle for the batch
    assert torch.equal(out[out != 0], x[out != 0])  # the rest is untouched
    assert torch.equal(out, random_erase(x, 1.0, torch.Generator().manual_seed(0)))
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(0)), x)
    half = random_erase(x, 0.5, torch.Generator().manual_seed(1))
    assert 10 < sum(bool((image == 0).any()) for image in half) < 54


def test_the_recipe_option_erases_train_batches_only_in_memory_and_streamed(tmp_path):
    make_tree(tmp_path)
    for in_memory in (True, False):
        spec = DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=in_memory, workers=0,
                        augment=AugmentSpec(crop="none", flip=False, erase=1.0))
        bundle = build_data(spec)
        train = torch.cat([x for x, _ in bundle.train_batches(0, 0)])
        assert all((image == 0).all(dim=0).any() for image in train), f"in_memory={in_memory}"
        plain = torch.cat([x for x, _ in bundle.train_batches(0, 0, augment=False)])
        assert not any((image == 0).all(dim=0).any() for image in plain)
        assert not any((x == 0).all(dim=1).any() for x, _ in bundle.val_batches())


def test_erase_is_a_probability_and_a_bare_true_is_refused():
    import pytest
    from pydantic import ValidationError

    assert AugmentSpec(erase=1).erase == 1.0
    for bad in (True, 1.5, -0.1, "x"):
        with pytest.raises(ValidationError, match="erase"):
            AugmentSpec(erase=bad)
