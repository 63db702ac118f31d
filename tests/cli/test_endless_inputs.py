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

from tests.conftest import assert_one_line_error

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


NUL = b"\0" * 100_000


@pytest.mark.parametrize(
    "args",
    [
        ["transform", "{bundle}", "-", "--format", "csv", "-o", "{tmp}/t.csv"],
        ["check", "-", "--format", "csv"],
        ["fit", "covariance", "-", "--format", "csv", "-o", "{tmp}/b"],
        ["constraints", "-", "--format", "csv", "--label", "y", "-o", "{tmp}/c.csv"],
    ],
)
def test_zeros_on_stdin_are_refused_from_their_first_bytes(cli, tmp_path, args):
    """`transform B - < /dev/zero` grew by ~240 MB/s until memory ran out."""
    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    run = cli(*[a.format(tmp=tmp_path, bundle=bundle) for a in args], input=NUL)
    assert_one_line_error(run, "<stdin>: holds binary data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_binary_formats_must_start_with_their_magic(cli, tmp_path, fmt):
    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    junk = np.random.default_rng(0).bytes(50_000)
    run = cli("transform", bundle, "-", "--format", fmt, "-o", tmp_path / "t.csv", input=junk)
    assert_one_line_error(run, "<stdin>: not a", "first bytes")
    (tmp_path / f"junk.{fmt}").write_bytes(junk)
    assert_one_line_error(cli("check", tmp_path / f"junk.{fmt}"), "junk", "first bytes")


def test_random_bytes_in_a_csv_file_are_refused_as_binary(cli, tmp_path):
    """`fit covariance /dev/urandom` hung; the same bytes saved to a file are not a table either."""
    path = tmp_path / "random.csv"
    path.write_bytes(b"\0" + np.random.default_rng(1).bytes(20_000))
    run = cli("fit", "covariance", path, "-o", tmp_path / "b")
    assert_one_line_error(run, "random.csv: holds binary data")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", ["transform", "check"])
def test_an_endless_line_is_cut_at_the_cap(cli, tmp_path, command):
    """A header, then one line that never ends (here just past the cap): one clear line."""
    from metricli.io.streams import MAX_LINE_BYTES

    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    header = b"sepal_length,sepal_width,petal_length,petal_width\n"
    endless = header + b"1" * (MAX_LINE_BYTES + 10)
    args = [bundle] if command == "transform" else []
    run = cli(command, *args, "-", "--format", "csv", input=endless)
    assert_one_line_error(run, "<stdin>: a line longer than 64 MiB")


def test_a_square_matrix_through_process_substitution_is_checked(cli, tmp_path):
    """`check <(cat D.csv)` read the pipe twice (its layout, then its cells) and found it empty."""
    points = np.arange(6.0)
    source = tmp_path / "D.csv"
    np.savetxt(source, np.abs(points[:, None] - points[None, :]), delimiter=",")
    fifo, writer = _fifo_from(tmp_path, source)
    run = cli("check", fifo, "--format", "csv", "--json")
    writer.join(5)
    assert run.exit_code == 0, run.stderr
    assert '"verdict": "metric"' in run.stdout.replace("'", '"')


@pytest.mark.parametrize("command", ["distance --to", "fit"])
def test_a_pipe_without_an_extension_is_csv_like_stdin(cli, tmp_path, command):
    # `metricli distance B data.csv --to <(head data.csv)`: /dev/fd/63 has no extension; it
    # was "cannot tell the format from the extension ''"
    bundle = tmp_path / "bundle"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    fifo, writer = _fifo_from(tmp_path, IRIS)
    if command == "fit":
        run = cli("fit", "lfda", fifo, "--label", "species", "-o", tmp_path / "b2")
        assert run.exit_code == 0, run.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "b2" / "M.npy"), np.load(bundle / "M.npy"))
    else:
        run = cli("distance", bundle, IRIS, "--to", fifo, "-o", tmp_path / "d.csv")
        assert run.exit_code == 0, run.stderr
        assert cli("distance", bundle, IRIS, "--to", IRIS, "-o", tmp_path / "e.csv").exit_code == 0
        assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "e.csv").read_bytes()
    writer.join(timeout=10)
