"""A run folder whose run.json is a symbolic link is refused with a message that says so."""

from __future__ import annotations

import pytest

from toolkit.errors import UserInputError
from toolkit.run.folder_safety import check_run_folder


def test_a_symlinked_run_json_is_named_as_a_link_not_as_missing(tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_text("{}")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").symlink_to(real)
    (folder / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(UserInputError, match="run.json is a symbolic link") as error:
        check_run_folder(folder)
    assert "no run.json" not in str(error.value)
