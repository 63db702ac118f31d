"""Devices that never end are refused at once; a pipe given as a path is read, once.

Before, ``transform B /dev/zero --format csv`` and ``check /dev/zero`` grew by ~240 MB/s until
memory ran out and ``fit covariance /dev/urandom`` hung; a FIFO made ``fit`` hang and
``transform`` say "empty file" (its header was read, then the pipe opened again).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "covariance", "/dev/urandom", "--format", "csv", "-o", "{tmp}/b"],
        ["transform", "{bundle}", "/dev/zero", "--format", "csv", "-o", "{tmp}/t.csv"],
        ["check", "/dev/zero", "--format", "csv"],
        ["evaluate", "lfda", "/dev/zero", "--format", "csv", "--label", "y"],
    ],
)
def test_a_device_is_refused_in_one_line(cli, tmp_path, args):
    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    run = cli(*[a.format(tmp=tmp_path, bundle=bundle) for a in args])
    assert run.exit_code == 2 and "is a device" in run.stderr and run.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def _fifo_from(tmp_path: Path, source: Path) -> tuple[Path, threading.Thread]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as out:
            out.write(source.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return fifo, writer


@pytest.mark.parametrize("command", ["fit", "transform"])
def test_a_named_pipe_is_read_like_the_file_it_carries(cli, tmp_path, command):
    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    fifo, writer = _fifo_from(tmp_path, IRIS)
    if command == "fit":
        run = cli("fit", "lfda", fifo, "--format", "csv", "--label", "species", "-o", tmp_path / "b2")
        assert run.exit_code == 0, run.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "b2" / "M.npy"), np.load(bundle / "M.npy"))
    else:
        run = cli("transform", bundle, fifo, "--format", "csv", "-o", tmp_path / "t.csv")
        assert run.exit_code == 0, run.stderr
        direct = cli("transform", bundle, IRIS, "-o", tmp_path / "u.csv")
        assert direct.exit_code == 0
        assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "u.csv").read_bytes()
    writer.join(timeout=10)
