"""A data.root that is missing or empty while an image archive lies beside it: the error names the archive and
the command that unpacks it there."""

from __future__ import annotations

import zipfile

from toolkit.data.archives import unpack_hint


def test_a_zip_beside_a_missing_root_gets_an_unzip_command(tmp_path):
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("train/a/1.jpg", b"x")
    hint = unpack_hint(tmp_path / "photos")
    assert "photos.zip is not unpacked" in hint and f"unzip {tmp_path / 'photos.zip'} -d {tmp_path / 'photos'}" in hint


def test_no_hint_without_an_archive_or_for_a_root_with_files(tmp_path):
    assert unpack_hint(tmp_path / "missing") == ""
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "x.tar.gz").write_bytes(b"")
    assert "x.tar.gz" in unpack_hint(tmp_path / "root")  # empty but for the archive: unpack it here
    (tmp_path / "root" / "train").mkdir()
    assert unpack_hint(tmp_path / "root") == ""  # it has content: the folder error says what is wrong


def test_a_path_with_spaces_is_quoted_for_the_shell(tmp_path):
    (tmp_path / "my data").mkdir()
    (tmp_path / "my data" / "set.tgz").write_bytes(b"")
    assert "'" in unpack_hint(tmp_path / "my data" / "set").split("(", 1)[1]


def test_a_root_that_is_the_archive_itself_gets_a_folder_beside_it(tmp_path):
    (tmp_path / "cifar.tar.gz").write_bytes(b"")
    hint = unpack_hint(tmp_path / "cifar.tar.gz")
    assert "it is an archive" in hint and f"set data.root to {tmp_path / 'cifar'}," in hint
    assert f"tar xf {tmp_path / 'cifar.tar.gz'} -C {tmp_path / 'cifar'}" in hint


def test_a_name_too_long_for_the_os_gets_no_hint_and_no_crash(tmp_path):
    assert unpack_hint(tmp_path / ("x" * 5000 + ".zip")) == ""
