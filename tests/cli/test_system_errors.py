"""The system refusing a read or a write (permission, I/O error, full disk): one line, exit 2, no file."""

from __future__ import annotations

import errno
import os

import numpy as np

from ..conftest import IRIS, assert_one_line_error


def test_a_folder_that_cannot_be_written_is_named(cli, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / ".model.x.tmp"))

    monkeypatch.setattr("metricli.io.atomic.tempfile.mkstemp", refuse)
    run = cli("fit", "covariance", IRIS, "--exclude", "species", "-o", tmp_path / "model")
    assert_one_line_error(
        run, f"{tmp_path / 'model'}: cannot write in folder {tmp_path}", "Permission denied"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_mid_write_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch):
    real_save = np.save

    def full(file, *args, **kwargs):
        if str(file).endswith("L.npy"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(file, *args, **kwargs)

    monkeypatch.setattr(np, "save", full)
    run = cli("fit", "covariance", IRIS, "--exclude", "species", "-o", tmp_path / "model")
    assert_one_line_error(run, "No space left on device")
    assert list(tmp_path.iterdir()) == []
