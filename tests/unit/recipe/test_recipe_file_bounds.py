"""A recipe path that is a device, a pipe or a huge file is refused with a plain message, not read forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.errors import RecipeError
from toolkit.recipe import read_yaml


def test_a_recipe_over_the_size_cap_is_refused_after_reading_at_most_cap_plus_one_bytes(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "# padding\n" * 110_000)  # about 1.1 MB
    with pytest.raises(RecipeError, match="larger than 1024 KiB"):
        read_yaml(big)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_and_a_folder_are_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    with pytest.raises(RecipeError, match="not a regular file"):
        read_yaml(tmp_path / "pipe.yaml")
    with pytest.raises(RecipeError, match="not a regular file"):
        read_yaml(tmp_path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_validate_dev_zero_exits_2_with_a_plain_message():
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-m", "toolkit", "validate", "/dev/zero"], capture_output=True,
                          text=True, timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 2 and "not a regular file" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
