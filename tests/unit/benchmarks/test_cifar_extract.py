"""benchmarks.cifar: the shared archive is extracted whole or not at all, and `python -m benchmarks.cifar` says
why when the archive is absent."""

from __future__ import annotations

import io
import tarfile

from benchmarks import cifar


def _archive(path):
    with tarfile.open(path, "w:gz") as tar:
        for name in ("train/cat/0.jpg", "test/cat/1.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"jpg"))
    return path


def test_extracts_both_splits_and_replaces_an_incomplete_folder(tmp_path):
    archive, data = _archive(tmp_path / "c.tar.gz"), tmp_path / "data" / "cifar10"
    (data / "train").mkdir(parents=True)  # what an interrupted extraction used to leave
    assert cifar.cifar10_root(data, archive) == data
    assert (data / "test" / "cat" / "1.jpg").read_bytes() == b"jpg"
    assert [p.name for p in data.parent.iterdir()] == ["cifar10"]  # no temporary folder left behind
    archive.unlink()
    assert cifar.cifar10_root(data, archive) == data  # already there: the archive is not needed


def test_the_command_names_the_missing_archive(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cifar, "ARCHIVE", tmp_path / "absent.tar.gz")
    monkeypatch.setattr(cifar, "DATA", tmp_path / "data")
    assert cifar.cifar10_root(tmp_path / "data", tmp_path / "absent.tar.gz") is None
    assert cifar.main() == 1
    assert "absent.tar.gz is missing" in capsys.readouterr().err
