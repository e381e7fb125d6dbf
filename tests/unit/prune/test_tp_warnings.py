"""Torch-Pruning's unwrapped-parameter warning becomes one toolkit line; other warnings and filters are untouched."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from toolkit.prune.tp_warnings import torch_pruning_notes

UNWRAPPED = ("Unwrapped parameters detected: {}.\n Torch-Pruning will prune the last non-singleton dimension of "
             "these parameters.")


class LayerScaled(nn.Module):
    """A conv whose output is scaled by a bare per-channel parameter (as in poolformer's layer scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(8, 1, 1))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.conv(x) * self.gamma).mean((2, 3)))


def test_the_unwrapped_parameter_warning_is_said_once_in_our_words():
    tp = pytest.importorskip("torch_pruning")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with torch_pruning_notes(notes.append):
            for _ in range(3):  # a ratio search builds the graph again and again
                tp.DependencyGraph().build_dependency(LayerScaled(), torch.randn(1, 3, 8, 8))
    assert len(notes) == 1 and "1 parameter(s) outside Conv/Linear/norm layers (gamma)" in notes[0]
    assert "last non-singleton dimension" in notes[0]
    assert not [w for w in outside if "Unwrapped" in str(w.message)]


def test_a_long_parameter_list_is_sorted_and_shortened():
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with torch_pruning_notes(notes.append):
            for order in (["d", "b", "c", "a"], ["a", "c", "b", "d"]):  # Torch-Pruning lists a set: any order
                warnings.warn(UNWRAPPED.format(order), UserWarning)
    assert len(notes) == 1 and "4 parameter(s) outside Conv/Linear/norm layers (a, b, c and 1 more)" in notes[0]


def test_other_warnings_pass_at_once_and_the_users_filters_still_apply():
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="hidden by the user")
        with torch_pruning_notes(notes.append):
            warnings.warn("something else", UserWarning)
            assert [str(w.message) for w in outside] == ["something else"]  # shown when issued, not at the end
            warnings.warn("hidden by the user", UserWarning)
            warnings.warn(UNWRAPPED.format(["x"]), UserWarning)
    assert [str(w.message) for w in outside] == ["something else"] and len(notes) == 1


def test_an_error_filter_raises_where_the_warning_is_issued_and_showwarning_is_put_back():
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="strict"), torch_pruning_notes(lambda note: None):
            warnings.warn("strict", UserWarning)
    assert warnings.showwarning is before
