"""Tables shaped to mislead the reader: each is read as written, or refused in one line.

Before, rows ending in an extra comma made pandas take the first column as the index and
shift every other column left, silently (fit learned on the wrong columns, exit 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error

ROWS = [[1, 2, 3, 0], [4, 5, 7, 1], [7, 8, 8, 0], [1, 3, 3, 1], [2, 2, 2, 0], [3, 1, 5, 1]]


def _write(path: Path, header: str, rows: list[list[int]], end: str = ",") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + end + "\n" for r in rows))
    return path


def _covariance() -> np.ndarray:
    # covariance learns M = inverse covariance of the features: the columns read are visible in it
    X = np.array(ROWS, dtype=float)[:, :3]
    return np.linalg.inv(np.cov(X, rowvar=False))


@pytest.mark.parametrize("header", ["a,b,c,y", "a,b,c,y,"])
@pytest.mark.parametrize("batch", ["65536", "2"])
def test_rows_ending_in_a_comma_keep_their_columns(cli, tmp_path, header, batch):
    data = _write(tmp_path / "d.csv", header, ROWS)
    run = cli("fit", "covariance", data, "--label", "y", "-o", tmp_path / "b", "--quiet")
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(np.load(tmp_path / "b" / "M.npy"), _covariance(), rtol=1e-9)
    # the streamed reader (transform) sees the same columns: x L^T for x = (1, 2, 3)
    run = cli("transform", tmp_path / "b", data, "--batch-rows", batch, "-o", tmp_path / "t.csv", "--quiet")
    assert run.exit_code == 0, run.stderr
    L = np.load(tmp_path / "b" / "L.npy")
    got = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, np.array(ROWS, dtype=float)[:, :3] @ L.T, rtol=1e-9)


@pytest.mark.parametrize("batch", ["65536", "1"])
def test_a_value_beyond_the_header_is_refused(cli, tmp_path, batch):
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,y\n" + "".join(",".join(map(str, r)) + ",\n" for r in ROWS[:3]) + "7,8,8,0,9\n")
    run = cli("fit", "covariance", data, "-o", tmp_path / "b")
    assert_one_line_error(run, "d.csv: malformed CSV (a row has more fields than the header has names)")
    assert not (tmp_path / "b").exists()
    good = _write(tmp_path / "good.csv", "a,b,c,y", ROWS, end="")
    assert cli("fit", "covariance", good, "--label", "y", "-o", tmp_path / "i", "--quiet").exit_code == 0
    out = tmp_path / "t.csv"
    run = cli("transform", tmp_path / "i", data, "--batch-rows", batch, "-o", out)
    assert_one_line_error(run, "d.csv: malformed CSV (a row has more fields than the header has names)")
    assert not out.exists()


def test_values_under_an_empty_last_name_are_refused(cli, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,\n1,2,3,\n4,5,6,7\n2,2,1,\n")
    run = cli("fit", "covariance", data, "-o", tmp_path / "b")
    assert_one_line_error(
        run, "d.csv: the header ends in an empty name, but its last column holds values (row 1)"
    )
