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
    assert "it is an archive" in hint and f"set data.root to {tmp_path / 'cifar'};" in hint
    assert f"tar xf {tmp_path / 'cifar.tar.gz'} -C {tmp_path / 'cifar'}" in hint


def test_a_name_too_long_for_the_os_gets_no_hint_and_no_crash(tmp_path):
    assert unpack_hint(tmp_path / ("x" * 5000 + ".zip")) == ""


def _tar(path, members):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name in members:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))


def test_an_archive_with_one_top_folder_is_unpacked_beside_it_and_data_root_is_that_folder(tmp_path):
    """As a download usually is: cifar.tar.gz holds cifar/train/... ; unpacking it into data.root itself would
    leave the splits one level too deep (the walkthrough's finding)."""
    import subprocess

    archive = tmp_path / "dl" / "cifar.tar.gz"
    archive.parent.mkdir()
    _tar(archive, ["cifar10/train/a/1.png", "cifar10/test/a/1.png"])
    hint = unpack_hint(tmp_path / "dl" / "cifar")
    assert f"tar xf {archive} -C {tmp_path / 'dl'}" in hint
    assert f"then set data.root to {tmp_path / 'dl' / 'cifar10'}" in hint
    subprocess.run(hint.split("extract it (", 1)[1].split("), then", 1)[0], shell=True, check=True)
    assert (tmp_path / "dl" / "cifar10" / "train" / "a" / "1.png").is_file()
    assert "set data.root to" in unpack_hint(archive) and f"{tmp_path / 'dl' / 'cifar10'};" in unpack_hint(archive)


def test_an_archive_whose_members_are_the_splits_is_unpacked_into_data_root(tmp_path):
    _tar(tmp_path / "set.tgz", ["train/a/1.png", "val/a/1.png"])
    hint = unpack_hint(tmp_path / "set")
    assert f"-C {tmp_path / 'set'})" in hint and "then set data.root" not in hint


def test_a_member_name_that_could_rewrite_the_terminal_is_not_used(tmp_path):
    _tar(tmp_path / "evil.tar", ["\x1b[2Jx/train/1.png".encode().decode("unicode_escape")])
    assert "\x1b" not in unpack_hint(tmp_path / "evil") and "then set data.root" not in unpack_hint(tmp_path / "evil")
