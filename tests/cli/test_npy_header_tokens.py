"""A .npy whose header does not tokenize (found by the nightly fuzzing) is one line, exit 2: numpy
raised tokenize.TokenError, which came out as "internal error", exit 70."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
BROKEN = (
    b"\x93NUMPY\x01\x00v\x00\x00'descr': '<f8', 'fortran_order': False, 'shape': (), }"
    + b" " * 62
    + b"\nA\x84\xdb\x89\xed\x17\xc0?"
)


@pytest.mark.parametrize("command", ["fit", "check", "transform"])
def test_a_header_that_does_not_tokenize_is_one_line(cli, tmp_path, command):
    path = tmp_path / "x.npy"
    path.write_bytes(BROKEN)
    if command == "transform":
        bundle = tmp_path / "b"
        assert cli("--quiet", "fit", "covariance", IRIS, "--no-knn-check", "-o", bundle).exit_code == 0
        run = cli("transform", bundle, path)
    elif command == "fit":
        run = cli("fit", "covariance", path, "-o", tmp_path / "o")
    else:
        run = cli("check", path)
    assert_one_line_error(run, "x.npy: not a plain numeric .npy array")
